// AVX2 + FMA GEMM kernels (this file is compiled with -mavx2 -mfma and only called when the
// CPU supports them). Micro-tile 6 x 16: 12 ymm accumulators, 2 for B, 1 broadcast of A.
#include <bit>
#include <cstdint>

#include "ops/gemm_kernels.h"

#ifdef LF_HAVE_X86_KERNELS
#include <immintrin.h>

namespace lf::gemm_detail {
namespace {

#include "ops/gemm_common.inc"

constexpr int kMR = 6;
constexpr int kNR = 16;

void micro_avx2(int64_t kc, const float* __restrict Ap, const float* __restrict Bp, int64_t ldbp,
                float* C, int64_t ldc, int m, int n, float alpha, float beta) {
  __m256 c0[kMR], c1[kMR];
#pragma GCC unroll 6
  for (int i = 0; i < kMR; ++i) c0[i] = c1[i] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_loadu_ps(Bp);
    const __m256 b1 = _mm256_loadu_ps(Bp + 8);
#pragma GCC unroll 6
    for (int i = 0; i < kMR; ++i) {
      const __m256 a = _mm256_broadcast_ss(Ap + i);
      c0[i] = _mm256_fmadd_ps(a, b0, c0[i]);
      c1[i] = _mm256_fmadd_ps(a, b1, c1[i]);
    }
    Ap += kMR;
    Bp += ldbp;
  }
  const __m256 va = _mm256_set1_ps(alpha);
  if (m == kMR && n == kNR) {
    const __m256 vb = _mm256_set1_ps(beta);
#pragma GCC unroll 6
    for (int i = 0; i < kMR; ++i) {
      float* c = C + i * ldc;
      __m256 r0 = _mm256_mul_ps(va, c0[i]);
      __m256 r1 = _mm256_mul_ps(va, c1[i]);
      if (beta != 0.0f) {
        r0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c), r0);
        r1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + 8), r1);
      }
      _mm256_storeu_ps(c, r0);
      _mm256_storeu_ps(c + 8, r1);
    }
    return;
  }
  // Edge tile: spill the accumulators and update only the valid m x n part.
  alignas(32) float t[kMR][kNR];
  // Fully unrolled: indexing the accumulator arrays with a run-time i would force them into
  // memory for the whole kernel (GCC then spills all 12 every k step; half the speed).
#pragma GCC unroll 6
  for (int i = 0; i < kMR; ++i) {
    _mm256_store_ps(t[i], _mm256_mul_ps(va, c0[i]));
    _mm256_store_ps(t[i] + 8, _mm256_mul_ps(va, c1[i]));
  }
  for (int i = 0; i < m; ++i) {
    float* c = C + i * ldc;
    if (beta == 0.0f) {
      for (int j = 0; j < n; ++j) c[j] = t[i][j];
    } else {
      for (int j = 0; j < n; ++j) c[j] = t[i][j] + beta * c[j];
    }
  }
}

}  // namespace

const GemmKernels& kernels_avx2() {
  static const GemmKernels k{
      "avx2", kMR, kNR, 144, 256, 3072, &pack_a_impl<kMR>, &pack_b_impl<kNR>, &micro_avx2};
  return k;
}

}  // namespace lf::gemm_detail
#endif  // LF_HAVE_X86_KERNELS
