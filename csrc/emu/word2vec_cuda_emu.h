// The CUDA word2vec kernels (ops/word2vec_cuda.cuh) run on the CPU by the emulator
// (emu/cuda_emu.h), for tests only (module latentforge._emu). Slow: keep the shapes small.
#pragma once

#include <cstdint>

#include "emu/schedule.h"
#include "ops/word2vec.h"

namespace lf {

// alias_sample_cuda (prob == nullptr: log-uniform noise) with host pointers, under `schedule`.
void noise_sample_cuda_emulated(int32_t* out, const float* prob, const int32_t* alias, int64_t V,
                                int64_t n, uint64_t seed, uint64_t counter,
                                const emu::Schedule& schedule);

// word2vec_train_cuda with host pointers, under `schedule`; returns the summed block results.
W2vResult word2vec_train_cuda_emulated(float* syn0, float* syn1, float* bias, const int32_t* ids,
                                       int64_t n, const int64_t* sent_ends, int64_t S,
                                       const float* keep_prob, const float* noise_prob,
                                       const int32_t* noise_alias, const float* noise_logq,
                                       int64_t V, int64_t D, const W2vParams& p, int64_t blocks,
                                       const emu::Schedule& schedule);

}  // namespace lf
