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

// Vector versions of lf_expf / lf_sigmoid / lf_tanh / lf_relu (gemm_common.inc), same formulas.
// min/max take the constant first so a NaN input propagates.
inline __m256 exp8(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(-87.0f), _mm256_min_ps(_mm256_set1_ps(88.0f), x));
  const __m256 n = _mm256_floor_ps(
      _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
  // 2^n through the exponent bits (n is in [-126, 127] after the clamp). For a NaN input the
  // polynomial is already NaN, so the garbage scale does not matter.
  const __m256i e = _mm256_slli_epi32(
      _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

inline __m256 sigmoid8(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  return _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

inline __m256 tanh8(__m256 x) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 ax = _mm256_andnot_ps(sign, x);
  const __m256 x2 = _mm256_mul_ps(x, x);
  __m256 q = _mm256_fmadd_ps(x2, _mm256_set1_ps(0.021869489f), _mm256_set1_ps(-0.053968254f));
  q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(0.133333333f));
  q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(-0.333333333f));
  const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(x, x2), q, x);
  const __m256 e = exp8(_mm256_add_ps(ax, ax));
  const __m256 big = _mm256_sub_ps(
      _mm256_set1_ps(1.0f), _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, _mm256_set1_ps(1.0f))));
  const __m256 signed_big = _mm256_or_ps(big, _mm256_and_ps(sign, x));
  return _mm256_blendv_ps(signed_big, small, _mm256_cmp_ps(ax, _mm256_set1_ps(0.25f), _CMP_LT_OQ));
}

inline __m256 relu8(__m256 x) {
  return _mm256_blendv_ps(x, _mm256_setzero_ps(), _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ));
}

template <Activation A>
void epilogue_rows(float* C, int64_t ldc, int64_t m, int64_t n, const float* bias) {
  for (int64_t i = 0; i < m; ++i) {
    float* c = C + i * ldc;
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
      __m256 v = _mm256_loadu_ps(c + j);
      if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + j));
      if constexpr (A == Activation::sigmoid) v = sigmoid8(v);
      if constexpr (A == Activation::tanh) v = tanh8(v);
      if constexpr (A == Activation::relu) v = relu8(v);
      _mm256_storeu_ps(c + j, v);
    }
    for (; j < n; ++j) {  // tail: the scalar versions of the same formulas
      float v = c[j] + (bias ? bias[j] : 0.0f);
      if constexpr (A == Activation::sigmoid) v = lf_sigmoid(v);
      if constexpr (A == Activation::tanh) v = lf_tanh(v);
      if constexpr (A == Activation::relu) v = lf_relu(v);
      c[j] = v;
    }
  }
}

void exp_inplace_avx2(float* x, int64_t n) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) _mm256_storeu_ps(x + j, exp8(_mm256_loadu_ps(x + j)));
  for (; j < n; ++j) x[j] = lf_expf(x[j]);  // tail: the scalar version of the same formula
}

void epilogue_avx2(float* C, int64_t ldc, int64_t m, int64_t n, const float* bias,
                   Activation act) {
  switch (act) {
    case Activation::sigmoid: return epilogue_rows<Activation::sigmoid>(C, ldc, m, n, bias);
    case Activation::tanh: return epilogue_rows<Activation::tanh>(C, ldc, m, n, bias);
    case Activation::relu: return epilogue_rows<Activation::relu>(C, ldc, m, n, bias);
    default: return epilogue_rows<Activation::none>(C, ldc, m, n, bias);
  }
}

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
  static const GemmKernels k{"avx2", kMR, kNR, 144, 256, 3072, &pack_a_impl<kMR>,
                             &pack_b_impl<kNR>, &micro_avx2, &epilogue_avx2,
                             &exp_inplace_avx2};
  return k;
}

}  // namespace lf::gemm_detail
#endif  // LF_HAVE_X86_KERNELS
