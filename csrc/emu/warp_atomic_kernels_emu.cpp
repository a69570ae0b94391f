// Emulated launches of the tests' atomic, warp and dynamic shared memory kernels
// (emu/warp_atomic_kernels.cuh).
#include "emu/warp_atomic_kernels_emu.h"

#include "emu/cuda_emu.h"  // must come before the kernels: it defines the CUDA keywords

#include <climits>

#include "emu/warp_atomic_kernels.cuh"

namespace lf::emu_tests {

namespace k = emu::warp_atomic_kernels;

namespace {

emu::dim3 dim(Dim3 d) { return emu::dim3(d[0], d[1], d[2]); }

}  // namespace

AtomicSums atomic_sums(float* block_f, int32_t* block_i, int32_t* tickets_i, uint32_t* tickets_u,
                       float* tickets_f, const float* xf, const int32_t* xi, Dim3 grid, Dim3 block,
                       const emu::Schedule& schedule) {
  AtomicSums s;
  emu::launch(schedule, dim(grid), dim(block), &k::atomic_sum_kernel, &s.total_f, &s.total_i,
              &s.total_u, block_f, block_i, tickets_i, tickets_u, tickets_f, &s.counter_i,
              &s.counter_u, &s.counter_f, xf, xi);
  return s;
}

void atomic_minmax(int32_t* extremes, int32_t* old_max, const int32_t* x, Dim3 grid, Dim3 block,
                   const emu::Schedule& schedule) {
  extremes[0] = INT_MIN;
  extremes[1] = INT_MAX;
  emu::launch(schedule, dim(grid), dim(block), &k::atomic_minmax_kernel, extremes, old_max, x);
}

int32_t spin_lock(uint32_t* slots, uint32_t* claimed_old, int iters, Dim3 grid, Dim3 block,
                  const emu::Schedule& schedule) {
  int lock = 0, counter = 0;
  emu::launch(schedule, dim(grid), dim(block), &k::spin_lock_kernel, &lock, &counter, slots,
              claimed_old, iters);
  return counter;
}

void misaligned_atomic(const emu::Schedule& schedule) {
  int storage[2] = {0, 0};
  emu::launch(schedule, emu::dim3(1), emu::dim3(1), &k::misaligned_atomic_kernel, storage);
}

void warp_sum(float* out, const float* x, const int32_t* xi, int mode, Dim3 grid, Dim3 block,
              const emu::Schedule& schedule) {
  emu::launch(schedule, dim(grid), dim(block), &k::warp_sum_kernel, out, x, xi, mode);
}

void block_sum(float* out, const float* x, int rounds, Dim3 grid, Dim3 block,
               const emu::Schedule& schedule) {
  emu::launch(schedule, dim(grid), dim(block), &k::block_sum_kernel, out, x, rounds);
}

void vote(uint32_t* votes, const int32_t* pred, Dim3 grid, Dim3 block,
          const emu::Schedule& schedule) {
  emu::launch(schedule, dim(grid), dim(block), &k::vote_kernel, votes, pred);
}

void shuffle(float* out_f, int32_t* out_i, const float* xf, const int32_t* xi, int src,
             unsigned delta, int lane_mask, int width, Dim3 grid, Dim3 block,
             const emu::Schedule& schedule) {
  emu::launch(schedule, dim(grid), dim(block), &k::shuffle_kernel, out_f, out_i, xf, xi, src, delta,
              lane_mask, width);
}

void warp_shared_sum(float* out, const float* x, bool sync, Dim3 grid, Dim3 block,
                     const emu::Schedule& schedule) {
  emu::launch(schedule, dim(grid), dim(block), &k::warp_shared_sum_kernel, out, x, sync ? 1 : 0);
}

void warp_misuse(float* out, int mode, Dim3 grid, Dim3 block, const emu::Schedule& schedule) {
  emu::launch(schedule, dim(grid), dim(block), &k::warp_misuse_kernel, out, mode);
}

void dynamic_neighbour(float* out, const float* x, int64_t writer, size_t dynamic_bytes, Dim3 grid,
                       Dim3 block, const emu::Schedule& schedule) {
  emu::launch(schedule, dim(grid), dim(block), dynamic_bytes, &k::dynamic_neighbour_kernel, out, x,
              writer);
}

void static_and_dynamic(float* out, size_t dynamic_bytes, Dim3 block,
                        const emu::Schedule& schedule) {
  emu::launch(schedule, emu::dim3(1), dim(block), dynamic_bytes, &k::static_and_dynamic_kernel,
              out);
}

}  // namespace lf::emu_tests
