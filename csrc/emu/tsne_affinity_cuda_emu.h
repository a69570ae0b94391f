// The CUDA t-SNE perplexity calibration kernel (ops/tsne_affinity_cuda.cuh) run on the CPU by the
// emulator (emu/cuda_emu.h), for tests only (module latentforge._emu). Slow: keep rows small (one
// OS thread per CUDA thread in the concurrent schedule).
#pragma once

#include <cstdint>

#include "emu/schedule.h"

namespace lf {

// Same contract as tsne_perplexity_cuda_from_host (ops/tsne_affinity.h) with host pointers and
// synchronous launches under `schedule`. Throws std::invalid_argument on bad arguments and
// std::runtime_error on emulated launch errors.
void tsne_perplexity_cuda_emulated(float* P, float* beta_out, const float* D, int64_t rows,
                                   int64_t k, double perplexity, double tol, int max_iter,
                                   int config, const emu::Schedule& schedule);

}  // namespace lf
