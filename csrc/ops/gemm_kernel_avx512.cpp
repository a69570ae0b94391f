// AVX-512 GEMM kernels (compiled with -mavx512f/dq/bw/vl and only called when the CPU and OS
// support them). Micro-tile 14 x 32: 28 zmm accumulators, 2 zmm for the B row; A values are
// broadcast straight from memory into the FMA ({1to16} operand), so 30 of 32 registers are
// live and the loop issues 28 FMAs per 16 loads. Edge tiles use masked loads/stores.
#include <cstdint>

#include "ops/gemm_kernels.h"

#ifdef LF_HAVE_X86_KERNELS
#include <immintrin.h>

namespace lf::gemm_detail {
namespace {

#include "ops/gemm_common.inc"

constexpr int kMR = 14;
constexpr int kNR = 32;

void micro_avx512(int64_t kc, const float* __restrict Ap, const float* __restrict Bp, float* C,
                  int64_t ldc, int m, int n, float alpha, float beta) {
  // Ask for the C tile now so its (likely L3/DRAM) lines arrive while the FMAs run instead of
  // stalling the final read-modify-write: otherwise ~10% of a large GEMM waits on C.
  for (int i = 0; i < m; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc + kNR - 1), _MM_HINT_T0);
  }
  __m512 c0[kMR], c1[kMR];
#pragma GCC unroll 14
  for (int i = 0; i < kMR; ++i) c0[i] = c1[i] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_loadu_ps(Bp);
    const __m512 b1 = _mm512_loadu_ps(Bp + 16);
#pragma GCC unroll 14
    for (int i = 0; i < kMR; ++i) {
      const __m512 a = _mm512_set1_ps(Ap[i]);
      c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
      c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
    }
    Ap += kMR;
    Bp += kNR;
  }
  const __m512 va = _mm512_set1_ps(alpha);
  const __m512 vb = _mm512_set1_ps(beta);
  const __mmask16 m0 = n >= 16 ? static_cast<__mmask16>(0xFFFF)
                               : static_cast<__mmask16>((1u << n) - 1u);
  const __mmask16 m1 = n >= 32  ? static_cast<__mmask16>(0xFFFF)
                       : n > 16 ? static_cast<__mmask16>((1u << (n - 16)) - 1u)
                                : static_cast<__mmask16>(0);
#pragma GCC unroll 14
  for (int i = 0; i < kMR; ++i) {
    if (i >= m) break;
    float* c = C + i * ldc;
    __m512 r0 = _mm512_mul_ps(va, c0[i]);
    __m512 r1 = _mm512_mul_ps(va, c1[i]);
    if (beta != 0.0f) {
      r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, c), r0);
      r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, c + 16), r1);
    }
    _mm512_mask_storeu_ps(c, m0, r0);
    _mm512_mask_storeu_ps(c + 16, m1, r1);
  }
}

}  // namespace

const GemmKernels& kernels_avx512() {
  static const GemmKernels k{"avx512", kMR, kNR, 336, 256, 3072, &pack_a_impl<kMR>,
                             &pack_b_impl<kNR>, &micro_avx512, &epilogue_impl};
  return k;
}

}  // namespace lf::gemm_detail
#endif  // LF_HAVE_X86_KERNELS
