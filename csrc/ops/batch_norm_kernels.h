// Internal to the CPU batch norm (ops/batch_norm_cpu.cpp): the per-ISA row kernels of the rows
// layout (one channel's N rows of HW contiguous floats).
//
// One translation unit per ISA (batch_norm_kernel_{scalar,avx2,avx512}.cpp) compiles the same
// source (ops/batch_norm_kernel_impl.h) with its own target flags and -ffp-contract=off, and
// fills the table; the driver dispatches on lf::active_isa(). The reductions keep kLanes = 16
// float lanes (lane l sums the elements i with i % 16 == l of a chunk of kChunk floats, in
// order), combine them by a fixed tree, and add the chunk sums into doubles in order; the
// element-wise passes are one rounding per operation. So every ISA computes the same operations
// in the same order: the results are bitwise the same on every ISA and at any thread count.
#pragma once

#include <cstdint>

#include "core/cpu_features.h"

namespace lf::bn_detail {

constexpr int kLanes = 16;
constexpr int64_t kChunk = 64;

struct BnKernels {
  const char* isa;
  // The sum of p[0:n]: the chunk sums added into a double from 0, in order.
  double (*row_sum)(const float* p, int64_t n);
  // d1 += sum(p - m), d2 += sum((p - m)^2), chunk by chunk.
  void (*row_moments)(const float* p, int64_t n, float m, double& d1, double& d2);
  // sa += sum(dy), sb += sum(dy * (x - m)), sr += sum(x - m), chunk by chunk.
  void (*row_backward)(const float* dy, const float* x, int64_t n, float m, double& sa, double& sb,
                       double& sr);
  // y = ((x - hi) - lo) * scale + beta.
  void (*affine)(float* y, const float* x, int64_t n, float hi, float lo, float scale, float beta);
  // dx = a * dy + b * (x - m) + k.
  void (*backward_train)(float* dx, const float* dy, const float* x, int64_t n, float a, float b,
                         float m, float k);
  // dx = a * dy.
  void (*scale)(float* dx, const float* dy, int64_t n, float a);
};

const BnKernels& bn_kernels_scalar();
#ifdef LF_HAVE_X86_KERNELS
const BnKernels& bn_kernels_avx2();
const BnKernels& bn_kernels_avx512();
#endif

inline const BnKernels& bn_kernels_for(Isa isa) {
#ifdef LF_HAVE_X86_KERNELS
  if (isa == Isa::avx512) return bn_kernels_avx512();
  if (isa == Isa::avx2) return bn_kernels_avx2();
#endif
  return bn_kernels_scalar();
}

}  // namespace lf::bn_detail
