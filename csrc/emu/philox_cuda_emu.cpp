// Emulated twin of ops/philox_cuda.cu: the same kernel source compiled by the host compiler.
#include "emu/philox_cuda_emu.h"

#include "emu/cuda_emu.h"  // must come before the kernel: it defines the CUDA keywords

#include "ops/philox_cuda.cuh"

namespace lf {

void uniform_cuda_emulated(float* u, int64_t n, uint64_t seed, uint64_t stream_id, uint64_t offset,
                           int config, const emu::Schedule& schedule) {
  emu::philox_uniform_cuda_run(u, n, seed, stream_id, offset, config,
                               [&](emu::dim3 grid, emu::dim3 block, auto kernel, auto... args) {
                                 emu::launch(schedule, grid, block, kernel, args...);
                               });
}

}  // namespace lf
