// The CUDA t-SNE gradient kernels (ops/tsne_bh_cuda.cuh: exact and Barnes-Hut, per-point sums,
// the index-order reduction, the scaling) run on the CPU by the emulator (emu/cuda_emu.h), for
// tests only (module latentforge._emu). Slow: keep n small (one OS thread per CUDA thread in the
// concurrent schedule).
#pragma once

#include <cstdint>

#include "emu/schedule.h"

namespace lf {

// Same contracts as tsne_gradient_exact_cuda_from_host / tsne_gradient_bh_cuda_from_host
// (ops/tsne_bh.h) with host pointers and synchronous launches under `schedule`; return the KL
// (NaN when compute_kl is false). Throw std::invalid_argument on bad arguments and
// std::runtime_error on emulated launch errors.
double tsne_gradient_exact_cuda_emulated(float* grad, const float* Y, const float* P, int64_t n,
                                         double exaggeration, bool compute_kl, int config,
                                         const emu::Schedule& schedule);
double tsne_gradient_bh_cuda_emulated(float* grad, const float* Y, const int64_t* indptr,
                                      const int64_t* indices, const float* pvals, int64_t n,
                                      int64_t nnz, double theta, double exaggeration,
                                      bool compute_kl, int config, const emu::Schedule& schedule);

}  // namespace lf
