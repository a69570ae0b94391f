// The word2vec shard trainer (ops/word2vec_kernel.inc) compiled for scalar.
#include <math.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/rng.h"
#include "core/simd_math.h"
#include "ops/word2vec_draws.h"
#include "ops/word2vec_kernels.h"

namespace lf::w2v_detail {
namespace {
#include "ops/word2vec_kernel.inc"
}  // namespace

const W2vKernels& w2v_kernels_scalar() {
  static const W2vKernels k{"scalar", &train_shard};
  return k;
}

}  // namespace lf::w2v_detail
