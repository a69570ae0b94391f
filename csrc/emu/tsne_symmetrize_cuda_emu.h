// The CUDA t-SNE symmetrisation kernels (ops/tsne_symmetrize_cuda.cuh) run on the CPU by the
// emulator (emu/cuda_emu.h), for tests only (module latentforge._emu). Slow: keep n small (one
// OS thread per CUDA thread in the concurrent schedule).
#pragma once

#include <cstdint>

#include "emu/schedule.h"
#include "ops/tsne_symmetrize.h"

namespace lf {

// Same contract as tsne_symmetrize_cuda_from_host (ops/tsne_symmetrize.h) with host pointers and
// synchronous launches under `schedule`: the exact CSR, or the CPU kernel's std::invalid_argument
// for the row the device error flag names. Throws std::runtime_error on emulated launch errors.
void tsne_symmetrize_cuda_emulated(CsrMatrixF32* out, const int64_t* nbr, const float* P, int64_t n,
                                   int64_t k, int config, const emu::Schedule& schedule);

}  // namespace lf
