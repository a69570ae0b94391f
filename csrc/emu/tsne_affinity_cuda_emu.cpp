// Emulated twin of ops/tsne_affinity_cuda.cu: the same kernel source compiled by the host compiler.
#include "emu/tsne_affinity_cuda_emu.h"

#include "emu/cuda_emu.h"  // must come before the kernel: it defines the CUDA keywords

#include "ops/tsne_affinity_cuda.cuh"

namespace lf {

void tsne_perplexity_cuda_emulated(float* P, float* beta_out, const float* D, int64_t rows,
                                   int64_t k, double perplexity, double tol, int max_iter,
                                   int config, const emu::Schedule& schedule) {
  tsne_perplexity_check_params(rows, k, perplexity, tol, max_iter, config);
  tsne_perplexity_check_host(D, rows, k);
  emu::tsne_perplexity_cuda_run(P, beta_out, D, rows, k, perplexity, tol, max_iter, config,
                                [&](emu::dim3 grid, emu::dim3 block, auto kernel, auto... args) {
                                  emu::launch(schedule, grid, block, kernel, args...);
                                });
}

}  // namespace lf
