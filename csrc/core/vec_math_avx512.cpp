// AVX-512 math kernels (core/vec_math.h; compiled with -mavx512f/dq/bw/vl and only called when
// the CPU and OS support them): the formulas of core/simd_math.h on 16 lanes, tails through
// masked loads and stores. min/max take the constant first so a NaN input propagates.
#include <cstdint>

#include "core/simd_math.h"
#include "core/vec_math.h"

#ifdef LF_HAVE_X86_KERNELS
#include <immintrin.h>

namespace lf::simd {
namespace {

// scalef applies 2^n directly.
inline __m512 exp16(__m512 x) {
  x = _mm512_max_ps(_mm512_set1_ps(kExpLo), _mm512_min_ps(_mm512_set1_ps(kExpHi), x));
  const __m512 n =
      _mm512_roundscale_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(kLog2e), _mm512_set1_ps(0.5f)),
                           _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Hi), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Lo), r);
  __m512 p = _mm512_set1_ps(kExpPoly[0]);
  for (int i = 1; i < 6; ++i) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpPoly[i]));
  p = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

inline __m512 sigmoid16(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  return _mm512_div_ps(one, _mm512_add_ps(one, exp16(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

inline __m512 tanh16(__m512 x) {
  const __m512 ax = _mm512_abs_ps(x);
  const __m512 x2 = _mm512_mul_ps(x, x);
  __m512 q = _mm512_set1_ps(kTanhPoly[0]);
  for (int i = 1; i < 4; ++i) q = _mm512_fmadd_ps(x2, q, _mm512_set1_ps(kTanhPoly[i]));
  const __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(x, x2), q, x);
  const __m512 e = exp16(_mm512_add_ps(ax, ax));
  const __m512 big =
      _mm512_sub_ps(_mm512_set1_ps(1.0f),
                    _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, _mm512_set1_ps(1.0f))));
  // Copy the sign of x onto big (bit 31).
  const __m512 signed_big = _mm512_castsi512_ps(_mm512_or_si512(
      _mm512_castps_si512(big),
      _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(static_cast<int>(0x80000000u)))));
  const __mmask16 is_small = _mm512_cmp_ps_mask(ax, _mm512_set1_ps(kTanhSmall), _CMP_LT_OQ);
  return _mm512_mask_blend_ps(is_small, signed_big, small);
}

inline __m512 relu16(__m512 x) {
  // x < 0 ? 0 : x, NaN kept (the compare is false for NaN).
  const __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
  return _mm512_mask_blend_ps(neg, x, _mm512_setzero_ps());
}

inline __mmask16 tail_mask(int64_t left) {
  return left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1u);
}

template <Activation A>
void rows(float* C, int64_t ldc, int64_t m, int64_t n, const float* bias) {
  for (int64_t i = 0; i < m; ++i) {
    float* c = C + i * ldc;
    for (int64_t j = 0; j < n; j += 16) {
      const __mmask16 mask = tail_mask(n - j);
      __m512 v = _mm512_maskz_loadu_ps(mask, c + j);
      if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, bias + j));
      if constexpr (A == Activation::sigmoid) v = sigmoid16(v);
      if constexpr (A == Activation::tanh) v = tanh16(v);
      if constexpr (A == Activation::relu) v = relu16(v);
      _mm512_mask_storeu_ps(c + j, mask, v);
    }
  }
}

void bias_activation_avx512(float* C, int64_t ldc, int64_t m, int64_t n, const float* bias,
                            Activation act) {
  with_activation(act, [&](auto a) { rows<decltype(a)::value>(C, ldc, m, n, bias); });
}

void exp_inplace_avx512(float* x, int64_t n) {
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 mask = tail_mask(n - j);
    _mm512_mask_storeu_ps(x + j, mask, exp16(_mm512_maskz_loadu_ps(mask, x + j)));
  }
}

}  // namespace

const VecMath& vec_math_avx512() {
  static const VecMath t{"avx512", &bias_activation_avx512, &exp_inplace_avx512};
  return t;
}

}  // namespace lf::simd
#endif  // LF_HAVE_X86_KERNELS
