// Emulated twin of ops/optim_cuda.cu: the same kernel source compiled by the host compiler.
#include "emu/optim_cuda_emu.h"

#include "emu/cuda_emu.h"  // must come before the kernel: it defines the CUDA keywords

#include "ops/optim_cuda.cuh"

namespace lf {

namespace {

struct EmuLaunch {
  const emu::Schedule& schedule;
  template <class Kernel, class... Args>
  void operator()(emu::dim3 grid, emu::dim3 block, Kernel kernel, Args... args) const {
    emu::launch(schedule, grid, block, kernel, args...);
  }
};

}  // namespace

void optim_step_cuda_emulated(OptimRule rule, float* param, float* state0, float* state1,
                              const float* grad, int64_t n, const OptimHyper& h, int config,
                              const emu::Schedule& schedule) {
  emu::optim_cuda_run(rule, param, state0, state1, grad, n, h, config, EmuLaunch{schedule});
}

int64_t max_norm_cuda_emulated(float* W, int32_t* rescaled, int64_t rows, int64_t cols,
                               float max_norm, int axis, int config,
                               const emu::Schedule& schedule) {
  emu::max_norm_cuda_run(W, rescaled, rows, cols, max_norm, axis, config, EmuLaunch{schedule});
  if (rescaled == nullptr || rows == 0 || cols == 0) return 0;
  int64_t count = 0;
  const int64_t vectors = axis == 0 ? cols : rows;
  for (int64_t k = 0; k < vectors; ++k) count += rescaled[k];
  return count;
}

}  // namespace lf
