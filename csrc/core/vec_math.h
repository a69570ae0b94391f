// The vectorized math kernels of core/simd_math.h, one table per ISA: each
// vec_math_{scalar,avx2,avx512}.cpp is compiled with its own target flags and fills one table;
// callers pick the table of the active ISA (lf::active_isa(), capped by lf.set_isa /
// LATENTFORGE_ISA). Used by the GEMM epilogue, the elementwise activations and softmax, and the
// RBM sampler, so the same input gives the same bits on all of them.
#pragma once

#include <cstdint>

#include "core/activation.h"
#include "core/cpu_features.h"

namespace lf::simd {

struct VecMath {
  const char* isa;
  // C[0:m, 0:n] = act(C + bias[None, 0:n]) for a row-major block with row stride ldc (bias may
  // be nullptr). A 1 x n block is an elementwise activation of n contiguous floats.
  void (*bias_activation)(float* C, int64_t ldc, int64_t m, int64_t n, const float* bias,
                          Activation act);
  // x[0:n] = exp_approx(x[0:n]).
  void (*exp_inplace)(float* x, int64_t n);
};

const VecMath& vec_math_scalar();
#ifdef LF_HAVE_X86_KERNELS
const VecMath& vec_math_avx2();
const VecMath& vec_math_avx512();
#endif

inline const VecMath& vec_math_for(Isa isa) {
#ifdef LF_HAVE_X86_KERNELS
  if (isa == Isa::avx512) return vec_math_avx512();
  if (isa == Isa::avx2) return vec_math_avx2();
#endif
  return vec_math_scalar();
}

// The table of the active ISA.
inline const VecMath& vec_math() { return vec_math_for(active_isa()); }

}  // namespace lf::simd
