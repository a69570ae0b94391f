// Emulated twin of ops/local_contrast_norm2d_cuda.cu: the same kernel source and launch sequences
// compiled by the host compiler.
#include "emu/local_contrast_norm2d_cuda_emu.h"

#include "emu/cuda_emu.h"  // must come before the kernel: it defines the CUDA keywords

#include <limits>
#include <utility>
#include <vector>

#include "ops/local_contrast_norm2d_cuda.cuh"

namespace lf {

namespace {

struct EmuLaunch {
  const emu::Schedule& schedule;
  template <class... Params, class... Args>
  void operator()(emu::dim3 grid, emu::dim3 block, void (*kernel)(Params...),
                  Args&&... args) const {
    emu::launch(schedule, grid, block, kernel, std::forward<Args>(args)...);
  }
};

}  // namespace

void local_contrast_norm2d_forward_cuda_emulated(float* y, float* mean, float* sigma_map, float* c,
                                                 const float* x, int64_t N, int64_t C, int64_t H,
                                                 int64_t W, int64_t size, double sigma, double eps,
                                                 int config, const emu::Schedule& schedule) {
  const emu::LcnArgs a = emu::lcn_cuda_args(N, C, H, W, size, sigma, eps, config);
  emu::lcn_forward_sequence(EmuLaunch{schedule}, y, mean, sigma_map, c, x, a, config);
}

void local_contrast_norm2d_backward_cuda_emulated(float* dx, const float* dy, const float* x,
                                                  const float* mean, const float* sigma_map,
                                                  const float* c, int64_t N, int64_t C, int64_t H,
                                                  int64_t W, int64_t size, double sigma, double eps,
                                                  int config, const emu::Schedule& schedule) {
  const emu::LcnArgs a = emu::lcn_cuda_args(N, C, H, W, size, sigma, eps, config);
  // Poisoned like fresh device memory: a read before a write shows up as NaN.
  std::vector<float> work(static_cast<size_t>(local_contrast_norm2d_cuda_work_size(N, H, W)),
                          std::numeric_limits<float>::quiet_NaN());
  emu::lcn_backward_sequence(EmuLaunch{schedule}, dx, work.data(), dy, x, mean, sigma_map, c, a,
                             config);
}

}  // namespace lf
