// The CUDA exact kNN pipeline (ops/knn_cuda.cuh: the device GEMM tiles of ops/gemm_cuda.cuh, the
// norm kernel and the per-row radix selection) run on the CPU by the emulator (emu/cuda_emu.h), for
// tests only (module latentforge._emu), under every schedule. Slow: keep n small.
#pragma once

#include <cstdint>

#include "emu/schedule.h"
#include "ops/knn.h"

namespace lf {

// Same contract as knn_cuda (ops/knn.h) with HOST pointers, every kernel (GEMM included) emulated
// synchronously under `schedule`, tiles of `tile_rows` query rows (0: the default) and launch
// configuration `config` (the selection's block size and the GEMM's configuration). Returns the
// error flag (true: non-finite X or an overflowing squared norm; the outputs are then
// unspecified). Throws std::invalid_argument on bad arguments.
bool knn_cuda_emulated(int64_t* indices, float* sq_distances, const float* X, int64_t n, int64_t d,
                       int64_t k, int64_t tile_rows, int config, const emu::Schedule& schedule);

}  // namespace lf
