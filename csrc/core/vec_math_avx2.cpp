// AVX2 + FMA math kernels (core/vec_math.h; this file is compiled with -mavx2 -mfma and only
// called when the CPU supports them): the formulas of core/simd_math.h on 8 lanes, the scalar
// versions for the tails. min/max take the constant first so a NaN input propagates.
#include <cstdint>

#include "core/simd_math.h"
#include "core/vec_math.h"

#ifdef LF_HAVE_X86_KERNELS
#include <immintrin.h>

namespace lf::simd {
namespace {

inline __m256 exp8(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(kExpLo), _mm256_min_ps(_mm256_set1_ps(kExpHi), x));
  const __m256 n =
      _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(kLog2e), _mm256_set1_ps(0.5f)));
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Hi), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Lo), r);
  __m256 p = _mm256_set1_ps(kExpPoly[0]);
  for (int i = 1; i < 6; ++i) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpPoly[i]));
  p = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
  // 2^n through the exponent bits (n is in [-126, 127] after the clamp). For a NaN input the
  // polynomial is already NaN, so the garbage scale does not matter.
  const __m256i e =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
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
  __m256 q = _mm256_set1_ps(kTanhPoly[0]);
  for (int i = 1; i < 4; ++i) q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(kTanhPoly[i]));
  const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(x, x2), q, x);
  const __m256 e = exp8(_mm256_add_ps(ax, ax));
  const __m256 big =
      _mm256_sub_ps(_mm256_set1_ps(1.0f),
                    _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, _mm256_set1_ps(1.0f))));
  const __m256 signed_big = _mm256_or_ps(big, _mm256_and_ps(sign, x));
  return _mm256_blendv_ps(signed_big, small,
                          _mm256_cmp_ps(ax, _mm256_set1_ps(kTanhSmall), _CMP_LT_OQ));
}

inline __m256 relu8(__m256 x) {
  return _mm256_blendv_ps(x, _mm256_setzero_ps(),
                          _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ));
}

template <Activation A>
void rows(float* C, int64_t ldc, int64_t m, int64_t n, const float* bias) {
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
    for (; j < n; ++j) c[j] = activate<A>(c[j] + (bias ? bias[j] : 0.0f));
  }
}

void bias_activation_avx2(float* C, int64_t ldc, int64_t m, int64_t n, const float* bias,
                          Activation act) {
  with_activation(act, [&](auto a) { rows<decltype(a)::value>(C, ldc, m, n, bias); });
}

void exp_inplace_avx2(float* x, int64_t n) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) _mm256_storeu_ps(x + j, exp8(_mm256_loadu_ps(x + j)));
  for (; j < n; ++j) x[j] = exp_approx(x[j]);
}

}  // namespace

const VecMath& vec_math_avx2() {
  static const VecMath t{"avx2", &bias_activation_avx2, &exp_inplace_avx2};
  return t;
}

}  // namespace lf::simd
#endif  // LF_HAVE_X86_KERNELS
