// Emulated twin of ops/elementwise_cuda.cu: the same kernel source compiled by the host compiler.
#include "emu/elementwise_cuda_emu.h"

#include "emu/cuda_emu.h"  // must come before the kernel: it defines the CUDA keywords

#include "ops/elementwise_cuda.cuh"

namespace lf {

void elementwise_cuda_emulated(ElementwiseCudaOp op, float* out, const float* a, const float* b,
                               int64_t rows, int64_t cols, Activation act, int config,
                               const emu::Schedule& schedule) {
  emu::elementwise_cuda_run(op, out, a, b, rows, cols, act, config,
                            [&](emu::dim3 grid, emu::dim3 block, auto kernel, auto... args) {
                              emu::launch(schedule, grid, block, kernel, args...);
                            });
}

}  // namespace lf
