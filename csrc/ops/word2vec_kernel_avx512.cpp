// The word2vec shard trainer (ops/word2vec_kernel.inc) compiled for avx512 (this file is built with
// the ISA's target flags and only called when the CPU supports them).
#include <math.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/rng.h"
#include "core/simd_math.h"
#include "ops/word2vec_draws.h"
#include "ops/word2vec_kernels.h"

#ifdef LF_HAVE_X86_KERNELS
namespace lf::w2v_detail {
namespace {
#include "ops/word2vec_kernel.inc"
}  // namespace

const W2vKernels& w2v_kernels_avx512() {
  static const W2vKernels k{"avx512", &train_shard};
  return k;
}

}  // namespace lf::w2v_detail
#endif
