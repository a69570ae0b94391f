// Host entry points of the emulator's tests of atomics, warp primitives and dynamic shared memory
// (emu/warp_atomic_kernels.cuh), bound in latentforge._emu for
// tests/emu/test_emulator_warp_atomics.py. Every pointer is a host pointer sized by the caller:
// `n` = (blocks in grid) * (threads per block) elements unless stated. Misuse and launch errors
// throw std::runtime_error, as emu::launch does.
#pragma once

#include <cstddef>
#include <cstdint>

#include "emu/broken_kernels_emu.h"  // Dim3
#include "emu/schedule.h"

namespace lf::emu_tests {

struct AtomicSums {
  float total_f = 0.0f;
  int32_t total_i = 0;
  uint32_t total_u = 0;
  int32_t counter_i = 0;
  uint32_t counter_u = 0;
  float counter_f = 0.0f;
};

// block_f[blocks], block_i[blocks]; tickets_*[n]; xf[n], xi[n]. See atomic_sum_kernel.
AtomicSums atomic_sums(float* block_f, int32_t* block_i, int32_t* tickets_i, uint32_t* tickets_u,
                       float* tickets_f, const float* xf, const int32_t* xi, Dim3 grid, Dim3 block,
                       const emu::Schedule& schedule);
// extremes[2] (max, min; set here), old_max[n], x[n].
void atomic_minmax(int32_t* extremes, int32_t* old_max, const int32_t* x, Dim3 grid, Dim3 block,
                   const emu::Schedule& schedule);
// slots[(n + 1) / 2] (zeroed here), claimed_old[n]. Returns the spin-locked counter.
int32_t spin_lock(uint32_t* slots, uint32_t* claimed_old, int iters, Dim3 grid, Dim3 block,
                  const emu::Schedule& schedule);
// An atomicAdd on a misaligned address (always fails).
void misaligned_atomic(const emu::Schedule& schedule);
// out[n]; mode as in warp_sum_kernel.
void warp_sum(float* out, const float* x, const int32_t* xi, int mode, Dim3 grid, Dim3 block,
              const emu::Schedule& schedule);
// out[blocks], x[n]; threads per block a multiple of 32.
void block_sum(float* out, const float* x, int rounds, Dim3 grid, Dim3 block,
               const emu::Schedule& schedule);
// votes[3 * n], pred[n].
void vote(uint32_t* votes, const int32_t* pred, Dim3 grid, Dim3 block,
          const emu::Schedule& schedule);
// out_f[4 * n], out_i[4 * n].
void shuffle(float* out_f, int32_t* out_i, const float* xf, const int32_t* xi, int src,
             unsigned delta, int lane_mask, int width, Dim3 grid, Dim3 block,
             const emu::Schedule& schedule);
// out[n], x[n].
void warp_shared_sum(float* out, const float* x, bool sync, Dim3 grid, Dim3 block,
                     const emu::Schedule& schedule);
// out[n]; mode as in warp_misuse_kernel.
void warp_misuse(float* out, int mode, Dim3 grid, Dim3 block, const emu::Schedule& schedule);
// out[n], x[n]; launched with `dynamic_bytes` of dynamic shared memory.
void dynamic_neighbour(float* out, const float* x, int64_t writer, size_t dynamic_bytes, Dim3 grid,
                       Dim3 block, const emu::Schedule& schedule);
// out[threads]; one block.
void static_and_dynamic(float* out, size_t dynamic_bytes, Dim3 block,
                        const emu::Schedule& schedule);

}  // namespace lf::emu_tests
