// Host entry points of the emulator's test kernels (emu/broken_kernels.cuh), bound in
// latentforge._emu for tests/emu/test_emulator.py. Every pointer is a host pointer sized by the
// caller for the grid: `n` = (blocks in grid) * (threads per block) elements unless stated.
// Launch errors (bad configuration, misused barrier, too much shared memory) throw
// std::runtime_error, as emu::launch does.
#pragma once

#include <array>
#include <cstdint>

#include "emu/schedule.h"

namespace lf::emu_tests {

using Dim3 = std::array<unsigned, 3>;  // x, y, z

// out[n], in[n]: out[i] = in[next thread of i's block], with or without the barrier.
void neighbour(float* out, const float* in, Dim3 grid, Dim3 block, bool sync,
               const emu::Schedule& schedule);
// out[n], in[rounds * n].
void rounds(float* out, const float* in, Dim3 grid, Dim3 block, int rounds, bool sync_after_read,
            const emu::Schedule& schedule);
// out[n]; mode as in barrier_kernel.
void barrier(float* out, Dim3 grid, Dim3 block, int mode, const emu::Schedule& schedule);
// out[n]; writer: the linear index of the only block that writes shared memory, or -1.
void stale(float* out, Dim3 grid, Dim3 block, int64_t writer, const emu::Schedule& schedule);
// tickets[2 * n]: the order in which threads ran (deterministic schedules only).
void order(int64_t* tickets, Dim3 grid, Dim3 block, const emu::Schedule& schedule);
// out[blocks], in[n]; threads per block a power of two.
void reduce(float* out, const float* in, Dim3 grid, Dim3 block, const emu::Schedule& schedule);
// out[block threads]: a kernel with 64 KiB of static shared memory (always fails).
void big_shared(float* out, Dim3 block, const emu::Schedule& schedule);
// runs[n] += 1 per thread; launched as given, invalid configurations included.
void mark(int32_t* runs, Dim3 grid, Dim3 block, const emu::Schedule& schedule);

}  // namespace lf::emu_tests
