// The CUDA locally connected kernels (ops/locally_connected2d_cuda.cuh) run on the CPU by the
// emulator (emu/cuda_emu.h), for tests only (module latentforge._emu): every block size of the
// real kernel source, under every schedule, on machines without a GPU. Slow: keep the shapes
// small.
#pragma once

#include <cstdint>

#include "emu/schedule.h"

namespace lf {

// Same contracts as locally_connected2d_*_cuda (ops/locally_connected2d.h) but every pointer is a
// host pointer, the launch is synchronous and runs under `schedule`, and `config` in
// [0, locally_connected2d_cuda_emulated_num_configs()) picks the block size. Throws
// std::invalid_argument on bad arguments and std::runtime_error on emulated launch errors.
void locally_connected2d_forward_cuda_emulated(float* y, const float* x, const float* w,
                                               const float* bias, int64_t N, int64_t C_in,
                                               int64_t H, int64_t W, int64_t C_out, int64_t kh,
                                               int64_t kw, int64_t sh, int64_t sw, int config,
                                               const emu::Schedule& schedule);
void locally_connected2d_backward_data_cuda_emulated(float* dx, const float* dy, const float* w,
                                                     int64_t N, int64_t C_in, int64_t H, int64_t W,
                                                     int64_t C_out, int64_t kh, int64_t kw,
                                                     int64_t sh, int64_t sw, int config,
                                                     const emu::Schedule& schedule);
void locally_connected2d_backward_weights_cuda_emulated(float* dw, float* db, const float* dy,
                                                        const float* x, int64_t N, int64_t C_in,
                                                        int64_t H, int64_t W, int64_t C_out,
                                                        int64_t kh, int64_t kw, int64_t sh,
                                                        int64_t sw, int config,
                                                        const emu::Schedule& schedule);

int locally_connected2d_cuda_emulated_num_configs();

}  // namespace lf
