// The CUDA row-wise top-k kernels (ops/topk_cuda.cuh) run on the CPU by the emulator
// (emu/cuda_emu.h), for tests only (module latentforge._emu): every launch configuration of the
// real kernel source, under every schedule, on machines without a GPU. Slow: keep shapes small.
#pragma once

#include <cstdint>

#include "emu/schedule.h"
#include "ops/topk.h"

namespace lf {

// Same contract as topk_rows_cuda (ops/topk.h) with HOST pointers and a synchronous launch under
// `schedule` and launch configuration `config`: a row with a NaN is written as zeros and sets
// *nan_flag (cleared first; may be null). Throws std::invalid_argument on bad arguments and
// std::runtime_error on emulated launch errors.
void topk_rows_cuda_emulated(float* y, uint8_t* mask, int32_t* nan_flag, const float* x,
                             int64_t rows, int64_t cols, int64_t k, int config,
                             const emu::Schedule& schedule);

// Same contract as topk_rows_backward_cuda, host pointers, synchronous.
void topk_rows_backward_cuda_emulated(float* dx, const float* dy, const uint8_t* mask, int64_t rows,
                                      int64_t cols, int config, const emu::Schedule& schedule);

}  // namespace lf
