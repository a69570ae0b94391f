// Emulated twin of ops/tsne_grouped_cuda.cu: the same kernel source compiled by the host compiler.
#include "emu/tsne_grouped_cuda_emu.h"

#include "emu/cuda_emu.h"  // must come before the kernel: it defines the CUDA keywords

#include <cmath>
#include <limits>
#include <vector>

#include "emu/tsne_bh_cuda_emu.h"
#include "ops/tsne_grouped_cuda.cuh"

namespace lf {

namespace {

// The flag starts at a value no kernel writes: a check that never ran shows.
constexpr int32_t kUnwritten = -7;

auto launcher(const emu::Schedule& schedule) {
  return [&schedule](emu::dim3 grid, emu::dim3 block, auto kernel, auto... args) {
    emu::launch(schedule, grid, block, kernel, args...);
  };
}

bool finite_flag(int32_t flag) {
  LF_CHECK_RT(flag == 0 || flag == 1,
              "tsne_step_cuda (emulated): the finiteness flag was not "
              "written (",
              flag, ")");
  return flag == 1;
}

}  // namespace

bool tsne_step_cuda_emulated(double* Y, double* update, double* gains, const float* grad, int64_t n,
                             double momentum, double learning_rate, double min_gain, int config,
                             const emu::Schedule& schedule) {
  int32_t finite = kUnwritten;
  emu::tsne_step_cuda_run(Y, update, gains, &finite, grad, n, momentum, learning_rate, min_gain,
                          config, launcher(schedule));
  return finite_flag(finite);
}

TsneBarnesHut::StepResult tsne_step_bh_cuda_emulated(double* Y, double* update, double* gains,
                                                     const int64_t* indptr, const int64_t* indices,
                                                     const float* pvals, int64_t n, int64_t nnz,
                                                     double theta, double exaggeration,
                                                     double momentum, double learning_rate,
                                                     double min_gain, bool compute_kl, int config,
                                                     const emu::Schedule& schedule) {
  LF_CHECK(n >= 2, "tsne_step_bh_cuda: need at least 2 points, got n = ", n);
  tsne_step_cuda_check_params(n, momentum, learning_rate, min_gain, config, "tsne_step_bh_cuda");
  std::vector<float> y32(static_cast<size_t>(2 * n), std::numeric_limits<float>::quiet_NaN());
  emu::tsne_to_float32_cuda_run(y32.data(), Y, n, config, launcher(schedule));
  bool y_finite = true;
  for (const float v : y32) y_finite &= std::isfinite(v);
  int32_t finite = kUnwritten;
  double kl = 1e300;  // overwritten with NaN by the failure kernel
  if (!y_finite) {
    emu::tsne_step_fail_cuda_run(&finite, compute_kl ? &kl : nullptr, launcher(schedule));
    finite_flag(finite);
    return {compute_kl ? kl : std::numeric_limits<double>::quiet_NaN(), false};
  }
  std::vector<float> grad(static_cast<size_t>(2 * n));
  // Checks the CSR and Y's contents as the device's from_host helper does.
  kl = tsne_gradient_bh_cuda_emulated(grad.data(), y32.data(), indptr, indices, pvals, n, nnz,
                                      theta, exaggeration, compute_kl, config, schedule);
  emu::tsne_step_cuda_run(Y, update, gains, &finite, grad.data(), n, momentum, learning_rate,
                          min_gain, config, launcher(schedule));
  return {kl, finite_flag(finite)};
}

}  // namespace lf
