// The CUDA local contrast normalisation kernels (ops/local_contrast_norm2d_cuda.cuh) run on the
// CPU by the emulator (emu/cuda_emu.h), for tests only (module latentforge._emu): every launch
// configuration of the real kernel source, under every schedule. Slow: keep the shapes small.
#pragma once

#include <cstdint>

#include "emu/schedule.h"

namespace lf {

// Same contracts as local_contrast_norm2d_forward_cuda / _backward_cuda
// (ops/local_contrast_norm2d.h) on host pointers, launched synchronously under `schedule`, with
// `config` in [0, kLcnCudaConfigs); the backward allocates its own work buffer. Throws
// std::invalid_argument on bad arguments and std::runtime_error on emulated launch errors.
void local_contrast_norm2d_forward_cuda_emulated(float* y, float* mean, float* sigma_map, float* c,
                                                 const float* x, int64_t N, int64_t C, int64_t H,
                                                 int64_t W, int64_t size, double sigma, double eps,
                                                 int config, const emu::Schedule& schedule);
void local_contrast_norm2d_backward_cuda_emulated(float* dx, const float* dy, const float* x,
                                                  const float* mean, const float* sigma_map,
                                                  const float* c, int64_t N, int64_t C, int64_t H,
                                                  int64_t W, int64_t size, double sigma, double eps,
                                                  int config, const emu::Schedule& schedule);

}  // namespace lf
