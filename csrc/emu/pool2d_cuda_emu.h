// The CUDA pooling kernels (ops/pool2d_cuda.cuh) run on the CPU by the emulator (emu/cuda_emu.h),
// for tests only (module latentforge._emu): every launch configuration of the real kernel source,
// under every schedule, on machines without a GPU. Slow: keep the shapes small.
#pragma once

#include <cstdint>

#include "emu/schedule.h"
#include "ops/pool2d.h"

namespace lf {

// Same contracts as pool2d_forward_cuda / pool2d_backward_cuda (ops/pool2d.h) with host pointers,
// a synchronous launch under `schedule`, and `config` in [0, kPool2dCudaConfigs). Throws
// std::invalid_argument on bad arguments and std::runtime_error on emulated launch errors.
void pool2d_forward_cuda_emulated(float* y, int32_t* argmax, const float* x, const Pool2dShape& s,
                                  PoolMode mode, int config, const emu::Schedule& schedule);
void pool2d_backward_cuda_emulated(float* dx, const float* dy, const int32_t* argmax,
                                   const float* x, const float* y, const Pool2dShape& s,
                                   PoolMode mode, int config, const emu::Schedule& schedule);

}  // namespace lf
