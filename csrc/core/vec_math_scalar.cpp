// Portable math kernels (core/vec_math.h): the scalar formulas of core/simd_math.h in plain loops
// compiled for the baseline ISA, which the compiler vectorizes with whatever that offers.
#include <cstdint>

#include "core/simd_math.h"
#include "core/vec_math.h"

namespace lf::simd {
namespace {

template <Activation A>
void rows(float* C, int64_t ldc, int64_t m, int64_t n, const float* bias) {
  for (int64_t i = 0; i < m; ++i) {
    float* __restrict c = C + i * ldc;
    if (bias) {
      for (int64_t j = 0; j < n; ++j) c[j] += bias[j];
    }
    if constexpr (A != Activation::none) {
      for (int64_t j = 0; j < n; ++j) c[j] = activate<A>(c[j]);
    }
  }
}

void bias_activation_scalar(float* C, int64_t ldc, int64_t m, int64_t n, const float* bias,
                            Activation act) {
  with_activation(act, [&](auto a) { rows<decltype(a)::value>(C, ldc, m, n, bias); });
}

void exp_inplace_scalar(float* x, int64_t n) {
  for (int64_t j = 0; j < n; ++j) x[j] = exp_approx(x[j]);
}

}  // namespace

const VecMath& vec_math_scalar() {
  static const VecMath t{"scalar", &bias_activation_scalar, &exp_inplace_scalar};
  return t;
}

}  // namespace lf::simd
