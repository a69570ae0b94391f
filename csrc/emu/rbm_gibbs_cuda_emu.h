// The CUDA RBM kernels (ops/rbm_gibbs_cuda.cuh: fused sigmoid + Bernoulli, Bernoulli with its
// device error flag, free energy) run on the CPU by the emulator (emu/cuda_emu.h), for tests only
// (module latentforge._emu): every launch configuration of the real kernel source, under every
// schedule, on machines without a GPU. Slow: keep the sizes small.
#pragma once

#include <cstdint>

#include "emu/schedule.h"
#include "ops/rbm_gibbs.h"

namespace lf {

// Same contracts as the *_cuda_from_host entries of ops/rbm_gibbs.h, on host arrays, with a
// synchronous launch under `schedule`. bernoulli: invalid == nullptr checks the kernel's flag and
// throws the CPU's std::invalid_argument without writing s; otherwise *invalid receives the flag
// and s the kernel's output (NaN at invalid p). Throws std::invalid_argument on bad arguments and
// std::runtime_error on emulated launch errors.
void sigmoid_bernoulli_cuda_emulated(float* p, float* s, const float* z, int64_t n, uint64_t seed,
                                     uint64_t stream_id, uint64_t offset, int config,
                                     const emu::Schedule& schedule);
void bernoulli_cuda_emulated(float* s, int32_t* invalid, const float* p, int64_t n, uint64_t seed,
                             uint64_t stream_id, uint64_t offset, int config,
                             const emu::Schedule& schedule);
void rbm_free_energy_cuda_emulated(float* F, const float* V, const float* b_v, const float* Z,
                                   int64_t rows, int64_t n_visible, int64_t n_hidden, int config,
                                   const emu::Schedule& schedule);

}  // namespace lf
