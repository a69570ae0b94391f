// The library's float32 math functions, written once: the coefficient table and the scalar
// formulas. Every ISA path (core/vec_math_{scalar,avx2,avx512}.cpp) evaluates exactly these
// formulas with exactly these constants, in the same operation order, so an activation gives
// the same values whether it runs fused into the GEMM, in an elementwise kernel or in the RBM
// sampler. Vector code uses the scalar versions below for its tails.
//
// exp(x): range reduction x = n ln2 + r, |r| <= ln2/2 (ln2 split in a high part exact in float
// and a low correction, Cody-Waite), a degree-6 polynomial for exp(r) (Cephes expf
// coefficients), then scaling by 2^n through the exponent bits. Inputs are clamped to
// [kExpLo, kExpHi] (2^n stays a normal float); NaN propagates. Relative error about 2 ulp.
// tanh(x): an odd Taylor polynomial for |x| < kTanhSmall (keeps relative accuracy for tiny |x|),
// otherwise 1 - 2 / (exp(2|x|) + 1) with the sign of x.
// sigmoid(x) = 1 / (1 + exp(-x)); relu(x) = x < 0 ? 0 : x (NaN passes through, as np.maximum).
#pragma once

#include <bit>
#include <cstdint>
#include <type_traits>

#include "core/activation.h"

namespace lf::simd {

inline constexpr float kExpLo = -87.0f;
inline constexpr float kExpHi = 88.0f;
inline constexpr float kLog2e = 1.44269504088896341f;
inline constexpr float kLn2Hi = 0.693359375f;     // ln 2 rounded to 11 bits: n * kLn2Hi is exact
inline constexpr float kLn2Lo = -2.12194440e-4f;  // ln 2 - kLn2Hi
// exp(r) ~= 1 + r + r^2 (c0 + r (c1 + ... )) with kExpPoly = {c5, c4, c3, c2, c1, c0}, Horner
// order.
inline constexpr float kExpPoly[6] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                                      4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};
inline constexpr float kTanhSmall = 0.25f;
// tanh(x) ~= x + x^3 (t0 + x^2 (t1 + x^2 (t2 + x^2 t3))), kTanhPoly = {t3, t2, t1, t0}.
inline constexpr float kTanhPoly[4] = {0.021869489f, -0.053968254f, 0.133333333f, -0.333333333f};

// Branch-free, so loops over them vectorize.
inline float exp_approx(float x) {
  x = x < kExpLo ? kExpLo : x;
  x = x > kExpHi ? kExpHi : x;
  const float n = __builtin_floorf(x * kLog2e + 0.5f);
  float r = x - n * kLn2Hi;
  r = r - n * kLn2Lo;
  float p = kExpPoly[0];
  for (int i = 1; i < 6; ++i) p = p * r + kExpPoly[i];
  p = p * r * r + r + 1.0f;
  // std::bit_cast (not memcpy) keeps the loop vectorizable.
  const float scale = std::bit_cast<float>((static_cast<int32_t>(n) + 127) << 23);
  return p * scale;
}

inline float sigmoid_approx(float x) { return 1.0f / (1.0f + exp_approx(-x)); }

inline float tanh_approx(float x) {
  const float ax = x < 0.0f ? -x : x;
  const float x2 = x * x;
  float q = kTanhPoly[0];
  for (int i = 1; i < 4; ++i) q = kTanhPoly[i] + x2 * q;
  const float small = x + x * x2 * q;
  const float big = 1.0f - 2.0f / (exp_approx(2.0f * ax) + 1.0f);
  const float signed_big = x < 0.0f ? -big : big;
  return ax < kTanhSmall ? small : signed_big;
}

inline float relu(float x) { return x < 0.0f ? 0.0f : x; }

// Calls f(std::integral_constant<Activation, A>{}) for the run-time act, so each ISA's kernels
// are written once as a template on A and dispatched by this one switch.
template <class F>
inline void with_activation(Activation act, F&& f) {
  switch (act) {
    case Activation::sigmoid: return f(std::integral_constant<Activation, Activation::sigmoid>{});
    case Activation::tanh: return f(std::integral_constant<Activation, Activation::tanh>{});
    case Activation::relu: return f(std::integral_constant<Activation, Activation::relu>{});
    default: return f(std::integral_constant<Activation, Activation::none>{});
  }
}

template <Activation A>
inline float activate(float x) {
  if constexpr (A == Activation::sigmoid) return sigmoid_approx(x);
  if constexpr (A == Activation::tanh) return tanh_approx(x);
  if constexpr (A == Activation::relu) return relu(x);
  return x;
}

}  // namespace lf::simd
