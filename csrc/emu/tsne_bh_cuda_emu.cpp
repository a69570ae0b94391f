// Emulated twin of ops/tsne_bh_cuda.cu: the same kernel source compiled by the host compiler.
#include "emu/tsne_bh_cuda_emu.h"

#include "emu/cuda_emu.h"  // must come before the kernel: it defines the CUDA keywords

#include <limits>
#include <vector>

#include "ops/tsne_bh_cuda.cuh"

namespace lf {

namespace {

// Scratch poisoned with NaN, as uninitialised device memory might hold: a per-point sum that no
// thread wrote would show in grad.
std::vector<double> poisoned_scratch(int64_t n) {
  return std::vector<double>(static_cast<size_t>(tsne_cuda_scratch_doubles(n)),
                             std::numeric_limits<double>::quiet_NaN());
}

}  // namespace

double tsne_gradient_exact_cuda_emulated(float* grad, const float* Y, const float* P, int64_t n,
                                         double exaggeration, bool compute_kl, int config,
                                         const emu::Schedule& schedule) {
  tsne_cuda_check_host_exact(Y, P, n, exaggeration, config, "tsne_gradient_exact_cuda");
  std::vector<double> scratch = poisoned_scratch(n);
  double kl = std::numeric_limits<double>::quiet_NaN();
  emu::tsne_exact_cuda_run(grad, compute_kl ? &kl : nullptr, Y, P, n, exaggeration, scratch.data(),
                           config, [&](emu::dim3 grid, emu::dim3 block, auto kernel, auto... args) {
                             emu::launch(schedule, grid, block, kernel, args...);
                           });
  return kl;
}

double tsne_gradient_bh_cuda_emulated(float* grad, const float* Y, const int64_t* indptr,
                                      const int64_t* indices, const float* pvals, int64_t n,
                                      int64_t nnz, double theta, double exaggeration,
                                      bool compute_kl, int config, const emu::Schedule& schedule) {
  tsne_cuda_check_host_bh(Y, indptr, indices, pvals, n, nnz, theta, exaggeration, config,
                          "tsne_gradient_bh_cuda");
  const TsneBhFlatTree tree = tsne_bh_flatten(Y, n);
  std::vector<double> scratch = poisoned_scratch(n);
  double kl = std::numeric_limits<double>::quiet_NaN();
  emu::tsne_bh_cuda_run(grad, compute_kl ? &kl : nullptr, tree.cells.data(), tree.order.data(), Y,
                        indptr, indices, pvals, n, theta, exaggeration, scratch.data(), config,
                        [&](emu::dim3 grid, emu::dim3 block, auto kernel, auto... args) {
                          emu::launch(schedule, grid, block, kernel, args...);
                        });
  return kl;
}

}  // namespace lf
