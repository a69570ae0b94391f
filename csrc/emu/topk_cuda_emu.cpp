// Emulated twin of ops/topk_cuda.cu: the same kernel source compiled by the host compiler.
#include "emu/topk_cuda_emu.h"

#include "emu/cuda_emu.h"  // must come before the kernel: it defines the CUDA keywords

#include "ops/topk_cuda.cuh"

namespace lf {

void topk_rows_cuda_emulated(float* y, uint8_t* mask, int32_t* nan_flag, const float* x,
                             int64_t rows, int64_t cols, int64_t k, int config,
                             const emu::Schedule& schedule) {
  emu::topk_rows_cuda_run(y, mask, nan_flag, x, rows, cols, k, config,
                          [&](emu::dim3 grid, emu::dim3 block, auto kernel, auto... args) {
                            emu::launch(schedule, grid, block, kernel, args...);
                          });
}

void topk_rows_backward_cuda_emulated(float* dx, const float* dy, const uint8_t* mask, int64_t rows,
                                      int64_t cols, int config, const emu::Schedule& schedule) {
  emu::topk_rows_backward_cuda_run(dx, dy, mask, rows, cols, config,
                                   [&](emu::dim3 grid, emu::dim3 block, auto kernel, auto... args) {
                                     emu::launch(schedule, grid, block, kernel, args...);
                                   });
}

}  // namespace lf
