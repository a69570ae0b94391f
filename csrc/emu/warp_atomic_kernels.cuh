// Kernels for the emulator's tests of atomics, warp primitives and dynamic shared memory
// (tests/emu/test_emulator_warp_atomics.py). Like broken_kernels.cuh: each misuse the emulator
// claims to catch is here next to correct code, written in the kernel subset
// (core/cuda_subset.h) so that nvcc compiles it too, but built only by the emulator
// (emu/warp_atomic_kernels_emu.cpp) into the test-only module latentforge._emu.
//
// Element i of a per-thread array belongs to thread linear_thread_id() of block linear_block():
// i = linear_block() * (threads per block) + linear_thread_id().
#pragma once

#include <cstdint>

#include "core/cuda_subset.h"

namespace lf::LF_KERNEL_NS::warp_atomic_kernels {

inline constexpr unsigned kFullMask = 0xffffffffu;
inline constexpr int kMaxThreads = 1024;

__device__ __forceinline__ unsigned block_threads() { return blockDim.x * blockDim.y * blockDim.z; }

__device__ __forceinline__ uint64_t linear_block() {
  return blockIdx.x + uint64_t{gridDim.x} * (blockIdx.y + uint64_t{gridDim.y} * blockIdx.z);
}

__device__ __forceinline__ uint64_t global_thread() {
  return linear_block() * block_threads() + linear_thread_id();
}

// The lanes that exist in this thread's warp: all 32, or fewer in a block's partial last warp.
__device__ __forceinline__ unsigned existing_lanes_mask() {
  const unsigned lanes = block_threads() - warp_id() * 32u;
  return lanes >= 32u ? kFullMask : (1u << lanes) - 1u;
}

// ---- atomics ----

// Sums by atomicAdd, into global totals and into a per-block shared total, and tickets: the old
// values returned by atomicAdd on counters (every ticket 0..n-1 exactly once).
//   totals_f[0] += xf, totals_i[0] += xi, totals_u[0] += unsigned(xi) over the grid;
//   block_f[b], block_i[b]: block b's sums, through shared memory;
//   tickets_i/u/f[i]: atomicAdd(counter, 1) of thread i on int/unsigned/float counters that
//   start at 0 (counters[0..1] are int, counter_u unsigned, counter_f float).
__global__ void atomic_sum_kernel(float* totals_f, int* totals_i, unsigned* totals_u,
                                  float* block_f, int* block_i, int* tickets_i, unsigned* tickets_u,
                                  float* tickets_f, int* counter_i, unsigned* counter_u,
                                  float* counter_f, const float* xf, const int* xi) {
  LF_SHARED(float, sum_f, );
  LF_SHARED(int, sum_i, );
  const unsigned t = linear_thread_id();
  const uint64_t i = global_thread();
  if (t == 0) {
    sum_f = 0.0f;
    sum_i = 0;
  }
  __syncthreads();
  atomicAdd(&sum_f, xf[i]);
  atomicAdd(&sum_i, xi[i]);
  atomicAdd(totals_f, xf[i]);
  atomicAdd(totals_i, xi[i]);
  atomicAdd(totals_u, static_cast<unsigned>(xi[i]));
  tickets_i[i] = atomicAdd(counter_i, 1);
  tickets_u[i] = atomicAdd(counter_u, 1u);
  tickets_f[i] = atomicAdd(counter_f, 1.0f);
  __syncthreads();
  if (t == 0) {
    block_f[linear_block()] = sum_f;
    block_i[linear_block()] = sum_i;
  }
}

// extremes[0] = max, extremes[1] = min of x over the grid by atomicMax/atomicMin (the caller
// starts them at INT_MIN and INT_MAX); old_max[i]: what atomicMax returned to thread i.
__global__ void atomic_minmax_kernel(int* extremes, int* old_max, const int* x) {
  const uint64_t i = global_thread();
  old_max[i] = atomicMax(&extremes[0], x[i]);
  atomicMin(&extremes[1], x[i]);
}

// A spin lock on atomicCAS guarding a plain (non-atomic) counter: every thread adds 1 to
// *counter `iters` times, each inside the lock. And slot claiming by unsigned atomicCAS: thread i
// tries to claim slots[i / 2] (0 = free) with i + 1; claimed_old[i] is what atomicCAS returned
// (0 for the winner of the slot, the winner's i + 1 for the loser).
__global__ void spin_lock_kernel(int* lock, int* counter, unsigned* slots, unsigned* claimed_old,
                                 int iters) {
  const uint64_t i = global_thread();
  for (int k = 0; k < iters; ++k) {
    while (atomicCAS(lock, 0, 1) != 0) {
    }
    __threadfence();
    *counter += 1;
    __threadfence();
    atomicExch(lock, 0);
  }
  claimed_old[i] = atomicCAS(&slots[i / 2], 0u, static_cast<unsigned>(i + 1));
}

// An atomicAdd on an int 2 bytes past `p`: a misaligned address (a fault on a GPU).
__global__ void misaligned_atomic_kernel(int* p) {
  atomicAdd(reinterpret_cast<int*>(reinterpret_cast<char*>(p) + 2), 1);
}

// ---- warp primitives (blocks of whole warps unless stated) ----

// Warp sums. mode 0: a __shfl_down_sync tree (lane 0 of each warp gets the sum; every lane's
// final value is written). mode 1: a __shfl_xor_sync butterfly (every lane gets the sum).
// mode 2: the int version of mode 0 on xi (written as float; sums of small ints are exact).
__global__ void warp_sum_kernel(float* out, const float* x, const int* xi, int mode) {
  const uint64_t i = global_thread();
  if (mode == 2) {
    int v = xi[i];
    for (int offset = warpSize / 2; offset > 0; offset /= 2)
      v += __shfl_down_sync(kFullMask, v, offset);
    out[i] = static_cast<float>(v);
    return;
  }
  float v = x[i];
  for (int offset = warpSize / 2; offset > 0; offset /= 2) {
    if (mode == 0) {
      v += __shfl_down_sync(kFullMask, v, offset);
    } else {
      v += __shfl_xor_sync(kFullMask, v, offset);
    }
  }
  out[i] = v;
}

// out[b] = sum over r < rounds of (r + 1) * (block b's x): per round, a warp sum by
// __shfl_down_sync, lane 0 of each warp to shared memory, __syncthreads(), then warp 0 sums the
// partials; a second __syncthreads() before the next round overwrites them. Whole warps only.
__global__ void block_sum_kernel(float* out, const float* x, int rounds) {
  LF_SHARED(float, partial, [32]);
  const unsigned lane = lane_id(), warp = warp_id(), warps = block_threads() / 32u;
  float total = 0.0f;
  for (int r = 0; r < rounds; ++r) {
    float v = static_cast<float>(r + 1) * x[global_thread()];
    for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(kFullMask, v, offset);
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    if (warp == 0) {
      v = lane < warps ? partial[lane] : 0.0f;
      for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(kFullMask, v, offset);
      total += v;
    }
    __syncthreads();
  }
  if (linear_thread_id() == 0) out[linear_block()] = total;
}

// votes[3 * i + 0..2] = __ballot_sync, __all_sync, __any_sync of pred[i] over the lanes that exist
// in the warp (any block size: a partial last warp uses the mask of its lanes).
__global__ void vote_kernel(unsigned* votes, const int* pred) {
  const uint64_t i = global_thread();
  const unsigned mask = existing_lanes_mask();
  votes[3 * i] = __ballot_sync(mask, pred[i]);
  votes[3 * i + 1] = static_cast<unsigned>(__all_sync(mask, pred[i]));
  votes[3 * i + 2] = static_cast<unsigned>(__any_sync(mask, pred[i]));
}

// Every shuffle with one width (full mask, whole warps): out_f/out_i[4 * i + k] for k = idx(src),
// up(delta), down(delta), xor(lane_mask), of xf and xi.
__global__ void shuffle_kernel(float* out_f, int* out_i, const float* xf, const int* xi, int src,
                               unsigned delta, int lane_mask, int width) {
  const uint64_t i = global_thread();
  const float f = xf[i];
  const int n = xi[i];
  out_f[4 * i] = __shfl_sync(kFullMask, f, src, width);
  out_f[4 * i + 1] = __shfl_up_sync(kFullMask, f, delta, width);
  out_f[4 * i + 2] = __shfl_down_sync(kFullMask, f, delta, width);
  out_f[4 * i + 3] = __shfl_xor_sync(kFullMask, f, lane_mask, width);
  out_i[4 * i] = __shfl_sync(kFullMask, n, src, width);
  out_i[4 * i + 1] = __shfl_up_sync(kFullMask, n, delta, width);
  out_i[4 * i + 2] = __shfl_down_sync(kFullMask, n, delta, width);
  out_i[4 * i + 3] = __shfl_xor_sync(kFullMask, n, lane_mask, width);
}

// A warp sum through shared memory (lane 0's slot gets it; out[i] = the sum for lane 0, the
// thread's own slot otherwise). sync = 1 orders the steps with __syncwarp(); sync = 0 is the old
// "warp-synchronous" code that relies on lockstep execution: wrong here, and on Volta and later.
__global__ void warp_shared_sum_kernel(float* out, const float* x, int sync) {
  LF_SHARED(float, slot, [kMaxThreads]);
  const unsigned t = linear_thread_id();
  const unsigned lane = lane_id();
  slot[t] = x[global_thread()];
  if (sync) __syncwarp();
  for (unsigned offset = 16; offset > 0; offset /= 2) {
    if (lane < offset) slot[t] += slot[t + offset];
    if (sync) __syncwarp();
  }
  out[global_thread()] = slot[t];
}

// Misuse of the warp primitives by `mode` (out[i] = 1 once thread i is done):
//   0: correct: __syncwarp() and a full-mask shuffle by every lane.
//   1: lane 5 returns early; the others shuffle with a full mask (a lane of the mask has exited).
//   2: lane 5 waits at __syncthreads() while the others wait in __syncwarp() (full mask).
//   3: lanes 0-15 and 16-31 shuffle at two different calls, each with the full mask.
//   4: every lane passes mask 0x0000ffff: lanes 16-31 are not in their own mask.
//   5: lanes 0-15 shuffle down by 8 with mask 0x0000ffff: lanes 8-15 read lanes 16-23, outside it.
//   6: lane 0 passes mask 0x3, the others the full mask, at one __syncwarp() call.
//   7: __syncwarp() (full mask) in a block whose last warp is partial: lanes that do not exist.
//   8: a shuffle of width 12 (not a power of two).
//   9: lanes 0, 1, 2 wait at three __syncwarp() calls with masks {0,1}, {1,2}, {2,0}: none can
//      complete (a cycle that no pairwise check sees); the other lanes return.
//  10: correct: two half-warp groups at one call, each with its own mask.
__global__ void warp_misuse_kernel(float* out, int mode) {
  const unsigned lane = lane_id();
  float v = static_cast<float>(lane);
  if (mode == 0) {
    __syncwarp();
    v = __shfl_sync(kFullMask, v, (lane + 1) % 32);
  } else if (mode == 1) {
    if (lane == 5) return;
    v = __shfl_sync(kFullMask, v, 0);
  } else if (mode == 2) {
    if (lane == 5) {
      __syncthreads();
    } else {
      __syncwarp(kFullMask);
    }
  } else if (mode == 3) {
    if (lane < 16) {
      v = __shfl_sync(kFullMask, v, 0);
    } else {
      v = __shfl_sync(kFullMask, v, 1);
    }
  } else if (mode == 4) {
    v = __shfl_sync(0x0000ffffu, v, 0);
  } else if (mode == 5) {
    if (lane < 16) v = __shfl_down_sync(0x0000ffffu, v, 8);
  } else if (mode == 6) {
    __syncwarp(lane == 0 ? 0x3u : kFullMask);
  } else if (mode == 7) {
    __syncwarp();
  } else if (mode == 8) {
    v = __shfl_sync(kFullMask, v, 0, 12);
  } else if (mode == 9) {
    if (lane == 0) __syncwarp(0x3u);
    if (lane == 1) __syncwarp(0x6u);
    if (lane == 2) __syncwarp(0x5u);
  } else if (mode == 10) {
    v = __shfl_sync(lane < 16 ? 0x0000ffffu : 0xffff0000u, v, 0, 16);
  }
  out[global_thread()] = v >= 0.0f ? 1.0f : 0.0f;
}

// ---- dynamic shared memory ----

// out[i] = x[next thread of the block, cyclically], through dynamic shared memory (one float per
// thread). Only block `writer` writes it (writer = -1: every block does): the other blocks read
// it before anything was written, i.e. the poison.
__global__ void dynamic_neighbour_kernel(float* out, const float* x, int64_t writer) {
  LF_DYNAMIC_SHARED(float, buf);
  const unsigned t = linear_thread_id(), n = block_threads();
  const uint64_t b = linear_block();
  if (writer < 0 || static_cast<uint64_t>(writer) == b) buf[t] = x[global_thread()];
  __syncthreads();
  out[global_thread()] = buf[(t + 1) % n];
}

// 32 KiB of static shared memory next to the launch's dynamic shared memory (one float per thread):
// the total passes 48 KiB once the launch gives more than 16 KiB.
__global__ void static_and_dynamic_kernel(float* out) {
  LF_SHARED(float, fixed, [8192]);
  LF_DYNAMIC_SHARED(float, extra);
  const unsigned t = linear_thread_id();
  fixed[t] = 1.0f;
  extra[t] = 2.0f;
  out[t] = fixed[t] + extra[t];
}

}  // namespace lf::LF_KERNEL_NS::warp_atomic_kernels
