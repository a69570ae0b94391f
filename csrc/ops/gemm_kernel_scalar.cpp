// Portable GEMM kernels: plain C++ compiled for the baseline ISA (SSE2 on x86-64), always
// available. The compiler vectorizes the NR loop with whatever the baseline offers.
#include <bit>
#include <cstdint>

#include "ops/gemm_kernels.h"

namespace lf::gemm_detail {
namespace {

#include "ops/gemm_common.inc"

constexpr int kMR = 4;
constexpr int kNR = 8;

void micro_scalar(int64_t kc, const float* __restrict Ap, const float* __restrict Bp, int64_t ldbp,
                  float* C, int64_t ldc, int m, int n, float alpha, float beta) {
  float acc[kMR][kNR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    for (int i = 0; i < kMR; ++i) {
      const float a = Ap[k * kMR + i];
      for (int j = 0; j < kNR; ++j) acc[i][j] += a * Bp[k * ldbp + j];
    }
  }
  for (int i = 0; i < m; ++i) {
    float* c = C + i * ldc;
    if (beta == 0.0f) {
      for (int j = 0; j < n; ++j) c[j] = alpha * acc[i][j];
    } else {
      for (int j = 0; j < n; ++j) c[j] = alpha * acc[i][j] + beta * c[j];
    }
  }
}

}  // namespace

const GemmKernels& kernels_scalar() {
  static const GemmKernels k{
      "scalar", kMR, kNR, 128, 256, 2048, &pack_a_impl<kMR>, &pack_b_impl<kNR>, &micro_scalar};
  return k;
}

}  // namespace lf::gemm_detail
