// Kernels for the emulator's own tests (tests/emu/test_emulator.py). Each misuse the emulator
// claims to catch is here, next to its correct twin (the same kernel with the flag that makes it
// right), so the tests show both that the misuse is caught and that the check stays quiet on good
// code. Written in the kernel subset like a real kernel (core/cuda_subset.h) but compiled only by
// the emulator (emu/broken_kernels_emu.cpp), into the test-only module latentforge._emu.
//
// Every kernel indexes its data by linear block and thread index (x fastest), so that 2-D and 3-D
// grids and blocks can be tested too: element i = linear_block() * threads + linear_thread().
#pragma once

#include <cstdint>

#include "core/cuda_subset.h"

namespace lf::LF_KERNEL_NS::test_kernels {

inline constexpr int kMaxThreads = 1024;

__device__ __forceinline__ unsigned block_threads() { return blockDim.x * blockDim.y * blockDim.z; }

__device__ __forceinline__ unsigned linear_thread() {
  return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
}

__device__ __forceinline__ uint64_t linear_block() {
  return blockIdx.x + uint64_t{gridDim.x} * (blockIdx.y + uint64_t{gridDim.y} * blockIdx.z);
}

__device__ __forceinline__ uint64_t grid_blocks() {
  return uint64_t{gridDim.x} * gridDim.y * gridDim.z;
}

// out[i] = in[j], j the next thread of the same block (cyclically), passed through shared memory.
// The read of another thread's slot needs a barrier after the writes; sync = 0 leaves it out
// (read-after-write race). sync is uniform over the grid, so the conditional barrier is legal.
__global__ void neighbour_kernel(float* out, const float* in, int sync) {
  LF_SHARED(float, slot, [kMaxThreads]);
  const unsigned t = linear_thread(), n = block_threads();
  const uint64_t base = linear_block() * n;
  slot[t] = in[base + t];
  if (sync) __syncthreads();
  out[base + t] = slot[(t + 1) % n];
}

// `rounds` rounds of the exchange above in one block, summed: out[i] = sum over r of in_r[j],
// where round r's input is in[r * (grid size) + i]. The barrier after the read, before the next
// round overwrites the slots, is left out when sync_after_read = 0 (write-after-read race): then a
// thread may read a slot that already holds the next round's value, a valid number that poisoning
// cannot flag; only the order of the threads exposes it.
__global__ void rounds_kernel(float* out, const float* in, int rounds, int sync_after_read) {
  LF_SHARED(float, slot, [kMaxThreads]);
  const unsigned t = linear_thread(), n = block_threads();
  const uint64_t i = linear_block() * n + t, size = grid_blocks() * n;
  float acc = 0.0f;
  for (int r = 0; r < rounds; ++r) {
    slot[t] = in[r * size + i];
    __syncthreads();
    acc += slot[(t + 1) % n];
    if (sync_after_read) __syncthreads();
  }
  out[i] = acc;
}

// Barrier misuse by `mode`; out[i] = 1 once thread i is past it.
//   0: correct: every thread waits at one barrier.
//   1: only the even threads call __syncthreads(): the odd ones return while the others wait.
//   2: thread 0 calls __syncthreads() once more than the others.
//   3: every thread calls __syncthreads() once, but the block splits between two calls in the two
//      sides of a branch (undefined in CUDA even though the counts match).
__global__ void barrier_kernel(float* out, int mode) {
  const unsigned t = linear_thread(), n = block_threads();
  if (mode == 1) {
    if (t % 2 == 0) __syncthreads();
  } else if (mode == 2) {
    __syncthreads();
    if (t == 0) __syncthreads();
  } else if (mode == 3) {
    if (t < n / 2) {
      __syncthreads();
    } else {
      __syncthreads();
    }
  } else {
    __syncthreads();
  }
  out[linear_block() * n + t] = 1.0f;
}

// Shared memory written only by block `writer` (-1: by none) and read back by every block: on a
// GPU a block that did not write reads undefined data, never the writer's (the poison: NaN here).
__global__ void stale_kernel(float* out, int64_t writer) {
  LF_SHARED(float, slot, [kMaxThreads]);
  const unsigned t = linear_thread(), n = block_threads();
  const uint64_t b = linear_block();
  if (static_cast<int64_t>(b) == writer) slot[t] = 1.0f + static_cast<float>(t);
  __syncthreads();
  out[b * n + t] = slot[t];
}

// Records the order in which the schedule runs threads and blocks: thread i takes ticket
// tickets[2i] from a plain counter before a barrier and tickets[2i+1] after it. Meaningful only in
// a deterministic schedule, where threads run one at a time (concurrent threads would race on
// the counter).
__global__ void order_kernel(int64_t* tickets, int64_t* counter) {
  const uint64_t i = linear_block() * block_threads() + linear_thread();
  tickets[2 * i] = (*counter)++;
  __syncthreads();
  tickets[2 * i + 1] = (*counter)++;
}

// out[b] = sum of block b's inputs, by a tree reduction in shared memory (threads per block a power
// of two): log2(n) barriers, each reached by every thread although fewer and fewer do work.
__global__ void reduce_kernel(float* out, const float* in) {
  LF_SHARED(float, partial, [kMaxThreads]);
  const unsigned t = linear_thread(), n = block_threads();
  const uint64_t b = linear_block();
  partial[t] = in[b * n + t];
  __syncthreads();
  for (unsigned half = n / 2; half > 0; half /= 2) {
    if (t < half) partial[t] += partial[t + half];
    __syncthreads();
  }
  if (t == 0) out[b] = partial[0];
}

// 2 x 32 KiB of static shared memory: over the 48 KiB every GPU allows (nvcc refuses to link it).
__global__ void big_shared_kernel(float* out) {
  LF_SHARED(float, first, [8192]);
  LF_SHARED(float, second, [8192]);
  const unsigned t = linear_thread();
  first[t] = 1.0f;
  second[t] = 2.0f;
  out[t] = first[t] + second[t];
}

// runs[i] += 1 for every thread i of the grid, for launch-configuration tests: every thread of
// every block must run exactly once (one writer per element: race-free in every schedule).
__global__ void mark_kernel(int32_t* runs) {
  runs[linear_block() * block_threads() + linear_thread()] += 1;
}

}  // namespace lf::LF_KERNEL_NS::test_kernels
