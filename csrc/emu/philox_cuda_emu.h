// The CUDA uniform draws (ops/philox_cuda.cuh) run on the CPU by the emulator (emu/cuda_emu.h),
// for tests only (module latentforge._emu): every launch configuration of the real kernel
// source, under every schedule, on machines without a GPU. Slow: keep n small.
#pragma once

#include <cstdint>

#include "emu/schedule.h"
#include "ops/philox.h"

namespace lf {

// Same contract as uniform_cuda_from_host (ops/philox.h) with a synchronous launch under
// `schedule` on the host array u. Throws std::invalid_argument on bad arguments and
// std::runtime_error on emulated launch errors.
void uniform_cuda_emulated(float* u, int64_t n, uint64_t seed, uint64_t stream_id, uint64_t offset,
                           int config, const emu::Schedule& schedule);

}  // namespace lf
