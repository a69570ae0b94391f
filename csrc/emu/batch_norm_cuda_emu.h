// The CUDA batch-norm kernels (ops/batch_norm_cuda.cuh) run on the CPU by the emulator
// (emu/cuda_emu.h), for tests only (module latentforge._emu): every launch configuration of the
// real kernel source, under every schedule, on machines without a GPU.
#pragma once

#include <cstdint>

#include "emu/schedule.h"

namespace lf {

// Same contracts as the CUDA launchers (ops/batch_norm.h) with host pointers, a synchronous launch
// under `schedule`, and `config` in [0, batch_norm_cuda_emulated_num_configs()).
void batch_norm_forward_train_cuda_emulated(float* y, float* mean, float* invstd,
                                            float* running_mean, float* running_var, const float* x,
                                            const float* gamma, const float* beta, int64_t N,
                                            int64_t C, int64_t HW, double momentum, double eps,
                                            int config, const emu::Schedule& schedule);
void batch_norm_backward_cuda_emulated(float* dx, float* dgamma, float* dbeta, const float* dy,
                                       const float* x, const float* mean, const float* invstd,
                                       const float* gamma, int64_t N, int64_t C, int64_t HW,
                                       bool training, int config, const emu::Schedule& schedule);
void batch_norm_forward_eval_cuda_emulated(float* y, const float* x, const float* gamma,
                                           const float* beta, const float* mean, const float* var,
                                           int64_t N, int64_t C, int64_t HW, double eps, int config,
                                           const emu::Schedule& schedule);

int batch_norm_cuda_emulated_num_configs();

}  // namespace lf
