// Internal to the word2vec training driver (ops/word2vec_cpu.cpp): the per-ISA shard trainer.
//
// One translation unit per ISA (word2vec_kernel_{scalar,avx2,avx512}.cpp) includes
// word2vec_kernel.inc with its own target flags and fills one table; the driver dispatches on
// lf::active_isa().
#pragma once

#include <cstdint>

#include "core/cpu_features.h"
#include "core/interrupt.h"
#include "ops/word2vec.h"

namespace lf::w2v_detail {

struct W2vJob {
  float* syn0;
  float* syn1;
  float* bias;
  const int32_t* ids;
  int64_t n;
  const int64_t* sent_ends;
  int64_t S;
  const float* keep_prob;
  const float* noise_prob;
  const int32_t* noise_alias;
  const float* noise_logq;
  int64_t V, D;
  W2vParams p;
};

struct W2vKernels {
  const char* isa;
  // Trains sentences [s_begin, s_end) of the job serially (one Hogwild worker); stops early
  // between sentences when poll() answers true.
  W2vResult (*train_shard)(const W2vJob& job, int64_t s_begin, int64_t s_end,
                           const InterruptPoll& poll);
};

const W2vKernels& w2v_kernels_scalar();
#ifdef LF_HAVE_X86_KERNELS
const W2vKernels& w2v_kernels_avx2();
const W2vKernels& w2v_kernels_avx512();
#endif

inline const W2vKernels& w2v_kernels_for(Isa isa) {
#ifdef LF_HAVE_X86_KERNELS
  if (isa == Isa::avx512) return w2v_kernels_avx512();
  if (isa == Isa::avx2) return w2v_kernels_avx2();
#endif
  return w2v_kernels_scalar();
}

}  // namespace lf::w2v_detail
