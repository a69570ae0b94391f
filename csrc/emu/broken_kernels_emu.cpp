// Emulated launches of the test kernels (emu/broken_kernels.cuh).
#include "emu/broken_kernels_emu.h"

#include "emu/cuda_emu.h"  // must come before the kernels: it defines the CUDA keywords

#include "emu/broken_kernels.cuh"

namespace lf::emu_tests {

namespace k = emu::test_kernels;

namespace {

emu::dim3 dim(Dim3 d) { return emu::dim3(d[0], d[1], d[2]); }

}  // namespace

void neighbour(float* out, const float* in, Dim3 grid, Dim3 block, bool sync,
               const emu::Schedule& schedule) {
  emu::launch(schedule, dim(grid), dim(block), &k::neighbour_kernel, out, in, sync ? 1 : 0);
}

void rounds(float* out, const float* in, Dim3 grid, Dim3 block, int rounds, bool sync_after_read,
            const emu::Schedule& schedule) {
  emu::launch(schedule, dim(grid), dim(block), &k::rounds_kernel, out, in, rounds,
              sync_after_read ? 1 : 0);
}

void barrier(float* out, Dim3 grid, Dim3 block, int mode, const emu::Schedule& schedule) {
  emu::launch(schedule, dim(grid), dim(block), &k::barrier_kernel, out, mode);
}

void stale(float* out, Dim3 grid, Dim3 block, int64_t writer, const emu::Schedule& schedule) {
  emu::launch(schedule, dim(grid), dim(block), &k::stale_kernel, out, writer);
}

void order(int64_t* tickets, Dim3 grid, Dim3 block, const emu::Schedule& schedule) {
  int64_t counter = 0;
  emu::launch(schedule, dim(grid), dim(block), &k::order_kernel, tickets, &counter);
}

void reduce(float* out, const float* in, Dim3 grid, Dim3 block, const emu::Schedule& schedule) {
  emu::launch(schedule, dim(grid), dim(block), &k::reduce_kernel, out, in);
}

void big_shared(float* out, Dim3 block, const emu::Schedule& schedule) {
  emu::launch(schedule, emu::dim3(1), dim(block), &k::big_shared_kernel, out);
}

void mark(int32_t* runs, Dim3 grid, Dim3 block, const emu::Schedule& schedule) {
  emu::launch(schedule, dim(grid), dim(block), &k::mark_kernel, runs);
}

}  // namespace lf::emu_tests
