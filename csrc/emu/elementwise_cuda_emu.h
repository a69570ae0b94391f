// The CUDA elementwise kernels (ops/elementwise_cuda.cuh: activations, row softmax and row
// log-softmax, forward and backward) run on the CPU by the emulator (emu/cuda_emu.h), for tests
// only (module latentforge._emu): every launch configuration of the real kernel source, under
// every schedule, on machines without a GPU. Slow: keep the shapes small.
#pragma once

#include <cstdint>

#include "core/activation.h"
#include "emu/schedule.h"
#include "ops/elementwise.h"

namespace lf {

// Same contract as elementwise_cuda_from_host (ops/elementwise.h) with a synchronous launch under
// `schedule`. Throws std::invalid_argument on bad arguments and std::runtime_error on emulated
// launch errors.
void elementwise_cuda_emulated(ElementwiseCudaOp op, float* out, const float* a, const float* b,
                               int64_t rows, int64_t cols, Activation act, int config,
                               const emu::Schedule& schedule);

}  // namespace lf
