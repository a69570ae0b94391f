// The CUDA optimizer kernels (ops/optim_cuda.cuh: every fused update and the max-norm constraint)
// run on the CPU by the emulator (emu/cuda_emu.h), for tests only (module latentforge._emu): every
// launch configuration of the real kernel source, under every schedule, on machines without a
// GPU. Slow: keep the shapes small.
#pragma once

#include <cstdint>

#include "emu/schedule.h"
#include "ops/optim.h"

namespace lf {

// Same contract as optim_step_cuda_from_host (ops/optim.h): param and the states are updated in
// place (host pointers), with a synchronous launch under `schedule`. Throws std::invalid_argument
// on bad arguments and std::runtime_error on emulated launch errors.
void optim_step_cuda_emulated(OptimRule rule, float* param, float* state0, float* state1,
                              const float* grad, int64_t n, const OptimHyper& h, int config,
                              const emu::Schedule& schedule);

// Max-norm over columns (axis 0) or rows (axis 1) of a host matrix, as max_norm_cuda_from_host;
// rescaled (cols or rows flags) may be null. Returns the number of vectors rescaled (0 when
// rescaled is null).
int64_t max_norm_cuda_emulated(float* W, int32_t* rescaled, int64_t rows, int64_t cols,
                               float max_norm, int axis, int config, const emu::Schedule& schedule);

}  // namespace lf
