// The CUDA GEMM kernel (ops/gemm_cuda.cuh) run on the CPU by the emulator (emu/cuda_emu.h), for
// tests only (module latentforge._emu): every launch configuration of the real kernel source,
// under every schedule, on machines without a GPU. Slow: one OS thread per CUDA thread.
#pragma once

#include <cstdint>

#include "emu/schedule.h"
#include "ops/gemm.h"

namespace lf {

// Same contract as gemm_forward_cuda (ops/gemm.h) but every pointer is a host pointer, the launch
// is synchronous and runs under `schedule`, and `config` in [0, gemm_cuda_emulated_num_configs())
// picks the launch configuration. Throws std::invalid_argument on bad arguments and
// std::runtime_error on emulated launch errors.
void gemm_forward_cuda_emulated(float* C, int64_t ldc, const float* A, int64_t lda, bool trans_a,
                                const float* B, int64_t ldb, bool trans_b, int64_t M, int64_t N,
                                int64_t K, float alpha, float beta, const float* bias,
                                Activation act, int config, const emu::Schedule& schedule);

// Number of launch configurations of the emulated kernel source (the GPU build has the same).
int gemm_cuda_emulated_num_configs();

}  // namespace lf
