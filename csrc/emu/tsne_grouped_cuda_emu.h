// The CUDA t-SNE optimiser step (ops/tsne_grouped_cuda.cuh: the finiteness check, the update,
// the float32 conversion) run on the CPU by the emulator (emu/cuda_emu.h), for tests only (module
// latentforge._emu). Slow: keep n small (one OS thread per CUDA thread in the concurrent
// schedule).
#pragma once

#include <cstdint>

#include "emu/schedule.h"
#include "ops/tsne_grouped.h"

namespace lf {

// Same contracts as tsne_step_cuda_from_host / tsne_step_bh_cuda_from_host (ops/tsne_grouped.h)
// with host pointers and synchronous launches under `schedule`. The BH step's gradient is
// tsne_gradient_bh_cuda_emulated at the same launch configuration and schedule. Throw
// std::invalid_argument on bad arguments and std::runtime_error on emulated launch errors.
bool tsne_step_cuda_emulated(double* Y, double* update, double* gains, const float* grad, int64_t n,
                             double momentum, double learning_rate, double min_gain, int config,
                             const emu::Schedule& schedule);
TsneBarnesHut::StepResult tsne_step_bh_cuda_emulated(double* Y, double* update, double* gains,
                                                     const int64_t* indptr, const int64_t* indices,
                                                     const float* pvals, int64_t n, int64_t nnz,
                                                     double theta, double exaggeration,
                                                     double momentum, double learning_rate,
                                                     double min_gain, bool compute_kl, int config,
                                                     const emu::Schedule& schedule);

}  // namespace lf
