// Internal to the CPU locally connected layer (ops/locally_connected2d_cpu.cpp): the per-ISA
// kernels of its three passes on batch-last ("lanes") data, where the batch index n is the
// contiguous one: a row of length L (a multiple of kLanePad, zero past the batch) holds one value
// for every image.
//
// One translation unit per ISA (locally_connected2d_kernel_{scalar,avx2,avx512}.cpp), compiled
// with its own target flags, fills the table from the same portable source
// (locally_connected2d_kernel.inc); the driver dispatches on lf::active_isa(). Every sum runs in
// a fixed order (listed below), so results depend on the ISA (fused multiply-adds) but never on
// the thread count.
#pragma once

#include <cstdint>

#include "core/cpu_features.h"

namespace lf::lc2d_detail {

// Lengths L passed to the kernels are multiples of kLanePad.
constexpr int64_t kLanePad = 16;

struct Lc2dKernels {
  const char* isa;
  // Y[r * ldy + q] = sum_{t < K} A[r * lda + t] * X[xoff[t] + q]   for r < m, q < L:
  // a (m x K) @ (K x L) product whose K rows of X are gathered by offset; t in order from 0.
  void (*gemm_rows)(float* Y, int64_t ldy, const float* A, int64_t lda, int64_t m, const float* X,
                    const int64_t* xoff, int64_t K, int64_t L);
  // X[xoff[t] + q] += sum_{r < m} A[r * lda + t] * D[r * ldd + q]   for t < K, q < L:
  // the transposed product added into scattered rows; the sum over r in order, then one add.
  // The K rows xoff[t] must be distinct.
  void (*gemm_rows_t_add)(float* X, const int64_t* xoff, int64_t K, const float* A, int64_t lda,
                          int64_t m, const float* D, int64_t ldd, int64_t L);
  // C[r * ldc + t] = sum_{q < L} A[r * lda + q] * X[xoff[t] + q]   for r < m, t < K:
  // 16 partial sums over q mod 16 (q in order), combined in a fixed tree (0 when L == 0).
  void (*dot_rows)(float* C, int64_t ldc, const float* A, int64_t lda, int64_t m, const float* X,
                   const int64_t* xoff, int64_t K, int64_t L);
};

const Lc2dKernels& lc2d_kernels_scalar();
#ifdef LF_HAVE_X86_KERNELS
const Lc2dKernels& lc2d_kernels_avx2();
const Lc2dKernels& lc2d_kernels_avx512();
#endif

inline const Lc2dKernels& lc2d_kernels_for(Isa isa) {
#ifdef LF_HAVE_X86_KERNELS
  if (isa == Isa::avx512) return lc2d_kernels_avx512();
  if (isa == Isa::avx2) return lc2d_kernels_avx2();
#endif
  return lc2d_kernels_scalar();
}

}  // namespace lf::lc2d_detail
