// Device side of the CUDA uniform draws (contract in ops/philox.h), plus the launch geometry, the
// argument checks and the dispatch shared by the launcher (ops/philox_cuda.cu, lf::gpu) and the
// emulator (emu/philox_cuda_emu.cpp, lf::emu). The RBM Gibbs kernels (ops/rbm_gibbs_cuda.cuh)
// run the same kernel, philox_elementwise_kernel, with their own per-element action. Compiled
// twice, so it uses only the emulated subset of emu/cuda_emu.h: integer arithmetic and core/rng.h
// (__host__ __device__ under nvcc).
//
// One thread per Philox block of the call (grid-stride loop): a call of n draws from `offset`
// touches the Philox blocks offset / 4 ... (offset + n - 1) / 4, i.e. philox_cuda_blocks(n,
// offset) of them, and thread k computes block k of those with ONE philox4x32_10 call and writes
// the (up to 4) elements it covers:
//   lead = offset % 4,  elements i in [4k - lead, 4k - lead + 4) intersected with [0, n),
//   element i has lane (lead + i) % 4 = i - (4k - lead) of block (offset - lead + 4k) / 4
//   (mod 2^62: the index offset + i wraps modulo 2^64, as in core/rng.h's uniform01).
// Each element is written by exactly one thread and depends on nothing but its index, so the
// result is the CPU's uniform_cpu bit for bit under any schedule or launch configuration.
#pragma once

#include <cstdint>

#include "core/check.h"
#include "core/cuda_subset.h"  // LF_KERNEL_NS, LF_UNROLL
#include "core/rng.h"
#include "ops/philox.h"

namespace lf::LF_KERNEL_NS {

struct PhiloxLaunch {
  dim3 grid, block;
};

// Philox blocks touched by n >= 0 draws from `offset`: (offset % 4 + n + 3) / 4.
__host__ __device__ __forceinline__ int64_t philox_cuda_blocks(int64_t n, uint64_t offset) {
  return n == 0 ? 0 : static_cast<int64_t>((static_cast<uint64_t>(n) + (offset & 3u) + 3u) >> 2);
}

// The four draws of Philox block k of a call: d[lane] is the draw of element 4k - lead + lane
// (lead = offset % 4); lanes whose element lies outside [0, n) are not the call's.
__device__ __forceinline__ void philox_call_draws(float d[4], int64_t k, uint64_t seed,
                                                  uint64_t stream_id, uint64_t offset) {
  const uint64_t first = (offset - (offset & 3u)) + 4u * static_cast<uint64_t>(k);  // wraps
  uint32_t w[4];
  philox_block(w, seed, stream_id, first >> 2);
  LF_UNROLL
  for (int lane = 0; lane < 4; ++lane) d[lane] = u32_to_uniform01(w[lane]);
}

// Config 0: 256 threads, up to 2^20 blocks (grid-stride beyond); config 1: 96 threads (not a
// power of two) and at most 5 blocks, so the emulator tests run several grid-stride rounds and a
// ragged last block. `work` is the number of Philox blocks (threads' work items).
inline PhiloxLaunch philox_cuda_geometry(int64_t work, int config) {
  LF_CHECK(config >= 0 && config < ::lf::kPhiloxCudaConfigs, "philox_cuda: config must be in [0, ",
           ::lf::kPhiloxCudaConfigs, "), got ", config);
  const GridShape g = items_or_rows_grid(false, work, config);
  return {g.grid, g.block};
}

// Host-side checks shared by the launcher and the emulator.
inline void philox_uniform_cuda_check(const float* u, int64_t n, int config) {
  LF_CHECK(n >= 0, "uniform: n must be >= 0, got ", n);
  philox_cuda_geometry(0, config);  // checks config
  LF_CHECK(n == 0 || u != nullptr, "uniform_cuda: null pointer");
}

// The kernel of every Philox-driven elementwise op (these draws, the RBM Bernoulli kernels of
// ops/rbm_gibbs_cuda.cuh): thread k of the grid-stride loop computes Philox block k of the call
// and calls op(i, draw) for each element i of [0, n) in that block (at most 4, in increasing i).
// Op is a small struct of pointers passed by value, with a __device__ operator().
template <class Op>
__global__ void philox_elementwise_kernel(Op op, int64_t n, uint64_t seed, uint64_t stream_id,
                                          uint64_t offset) {
  const int64_t blocks = philox_cuda_blocks(n, offset);
  const int64_t lead = static_cast<int64_t>(offset & 3u);
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t k = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; k < blocks; k += step) {
    float d[4];
    philox_call_draws(d, k, seed, stream_id, offset);
    const int64_t i0 = 4 * k - lead;
    LF_UNROLL
    for (int lane = 0; lane < 4; ++lane) {
      const int64_t i = i0 + lane;
      if (i >= 0 && i < n) op(i, d[lane]);
    }
  }
}

// u[i] = draw.
struct PhiloxStore {
  float* u;
  __device__ __forceinline__ void operator()(int64_t i, float draw) const { u[i] = draw; }
};

// Runs the draws through launch(grid, block, kernel, args...): the launcher passes a real <<<>>>
// launch, the emulator emu::launch under a schedule. Checks the arguments first; n == 0 launches
// nothing (an empty grid is an invalid launch).
template <class Launch>
void philox_uniform_cuda_run(float* u, int64_t n, uint64_t seed, uint64_t stream_id,
                             uint64_t offset, int config, Launch&& launch) {
  philox_uniform_cuda_check(u, n, config);
  if (n == 0) return;
  const PhiloxLaunch g = philox_cuda_geometry(philox_cuda_blocks(n, offset), config);
  launch(g.grid, g.block, &philox_elementwise_kernel<PhiloxStore>, PhiloxStore{u}, n, seed,
         stream_id, offset);
}

}  // namespace lf::LF_KERNEL_NS
