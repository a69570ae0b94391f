// Internal to the CPU conv2d (ops/conv2d_cpu.cpp): the per-ISA kernel of the direct weight
// gradient of small-K layers.
//
// One translation unit per ISA (conv2d_kernel_{scalar,avx2,avx512}.cpp), compiled with its own
// target flags, fills the table; the driver dispatches on lf::active_isa().
#pragma once

#include <cstdint>

#include "core/cpu_features.h"

namespace lf::conv_detail {

// Lengths passed to dot_rows are multiples of kDotPad.
constexpr int64_t kDotPad = 16;

struct ConvKernels {
  const char* isa;
  // For r < m and t < n:  s = sum_{q < L} A[r * lda + q] * B[boff[t] + q]  (L % kDotPad == 0),
  // then C[r * ldc + t] = s, or C[r * ldc + t] += s when accumulate. float32, with a fixed,
  // ISA-specific summation order (16 partial sums over q mod 16, combined in a fixed tree), so
  // the results depend on the ISA but not on the thread count.
  void (*dot_rows)(const float* A, int64_t lda, int64_t m, const float* B, const int64_t* boff,
                   int64_t n, int64_t L, float* C, int64_t ldc, bool accumulate);
};

const ConvKernels& conv_kernels_scalar();
#ifdef LF_HAVE_X86_KERNELS
const ConvKernels& conv_kernels_avx2();
const ConvKernels& conv_kernels_avx512();
#endif

inline const ConvKernels& conv_kernels_for(Isa isa) {
#ifdef LF_HAVE_X86_KERNELS
  if (isa == Isa::avx512) return conv_kernels_avx512();
  if (isa == Isa::avx2) return conv_kernels_avx2();
#endif
  return conv_kernels_scalar();
}

}  // namespace lf::conv_detail
