// CUDA t-SNE perplexity calibration launcher and its host-array entry (contract in
// ops/tsne_affinity.h, CUDA section). The kernel, the checks, the geometry and the dispatch live
// in ops/tsne_affinity_cuda.cuh, shared with the CPU emulator (emu/tsne_affinity_cuda_emu.cpp).
// CMakeLists.txt compiles this file with -fmad=false, so the double sums round like the CPU's.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/check.h"
#include "core/cuda_utils.cuh"
#include "ops/tsne_affinity.h"
#include "ops/tsne_affinity_cuda.cuh"

namespace lf {

namespace {

using cuda::cuda_check;
using cuda::StreamLaunch;

void run_on_stream(float* P, float* beta_out, const float* D, int64_t rows, int64_t k,
                   double perplexity, double tol, int max_iter, int config, cudaStream_t stream) {
  StreamLaunch l{stream};
  gpu::tsne_perplexity_cuda_run(P, beta_out, D, rows, k, perplexity, tol, max_iter, config, l);
  l.check("tsne_perplexity_cuda");
}

cuda::DeviceBuffer upload_n(const float* host, int64_t n) {
  cuda::DeviceBuffer dev(static_cast<size_t>(n));
  if (n > 0 && host != nullptr) {
    cuda_check(
        cudaMemcpy(dev.get(), host, static_cast<size_t>(n) * sizeof(float), cudaMemcpyHostToDevice),
        "cudaMemcpy (host to device)");
  }
  return dev;
}

void download_n(float* host, const cuda::DeviceBuffer& dev, int64_t n) {
  if (n > 0) {
    cuda_check(
        cudaMemcpy(host, dev.get(), static_cast<size_t>(n) * sizeof(float), cudaMemcpyDeviceToHost),
        "cudaMemcpy (device to host)");
  }
}

}  // namespace

void tsne_perplexity_cuda(float* P, float* beta_out, const float* D, int64_t rows, int64_t k,
                          double perplexity, double tol, int max_iter, void* stream) {
  run_on_stream(P, beta_out, D, rows, k, perplexity, tol, max_iter, 0,
                static_cast<cudaStream_t>(stream));
}

void tsne_perplexity_cuda_from_host(float* P, float* beta_out, const float* D, int64_t rows,
                                    int64_t k, double perplexity, double tol, int max_iter,
                                    int config) {
  tsne_perplexity_check_params(rows, k, perplexity, tol, max_iter, config);
  tsne_perplexity_check_host(D, rows, k);
  if (rows == 0) return;
  cuda::DeviceBuffer d_d = upload_n(D, rows * k), d_p = upload_n(nullptr, rows * k),
                     d_beta = upload_n(nullptr, rows);
  run_on_stream(d_p.get(), d_beta.get(), d_d.get(), rows, k, perplexity, tol, max_iter, config,
                nullptr);
  cuda_check(cudaStreamSynchronize(nullptr), "tsne_perplexity_cuda execution");
  download_n(P, d_p, rows * k);
  download_n(beta_out, d_beta, rows);
}

}  // namespace lf
