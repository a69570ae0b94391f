// CUDA t-SNE gradient launchers, exact and Barnes-Hut, and their host-array entries (contracts
// in ops/tsne_bh.h, CUDA section). The kernels, the flattened tree, the geometry and the dispatch
// live in ops/tsne_bh_cuda.cuh, shared with the CPU emulator (emu/tsne_bh_cuda_emu.cpp).
// CMakeLists.txt compiles this file with -fmad=false, so the double sums round like the CPU's.
#include <cuda_runtime.h>

#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "core/check.h"
#include "core/cuda_utils.cuh"
#include "ops/tsne_bh.h"
#include "ops/tsne_bh_cuda.cuh"

namespace lf {

namespace {

using cuda::cuda_check;
using cuda::StreamArray;
using cuda::StreamLaunch;
template <class T>
using Uploaded = cuda::DeviceArray<T>;  // the host-array entries' buffers

void exact_on_stream(float* grad, double* kl, const float* Y, const float* P, int64_t n,
                     double exaggeration, int config, cudaStream_t stream) {
  tsne_cuda_check_params(n, exaggeration, 0.0, config, "tsne_gradient_exact_cuda");
  StreamArray<double> scratch(tsne_cuda_scratch_doubles(n), stream);
  StreamLaunch l{stream};
  gpu::tsne_exact_cuda_run(grad, kl, Y, P, n, exaggeration, scratch.get(), config, l);
  l.check("tsne_gradient_exact_cuda");
}

void bh_on_stream(float* grad, double* kl, const float* Y, const float* Y_host,
                  const int64_t* indptr, const int64_t* indices, const float* pvals, int64_t n,
                  double theta, double exaggeration, int config, cudaStream_t stream) {
  tsne_cuda_check_params(n, exaggeration, theta, config, "tsne_gradient_bh_cuda");
  std::vector<float> y_copy;
  if (Y_host == nullptr) {  // the tree is built on the host: fetch Y
    y_copy.resize(static_cast<size_t>(2 * n));
    cuda_check(cudaMemcpyAsync(y_copy.data(), Y, y_copy.size() * sizeof(float),
                               cudaMemcpyDeviceToHost, stream),
               "cudaMemcpyAsync (device to host)");
    cuda_check(cudaStreamSynchronize(stream), "tsne_gradient_bh_cuda (copying Y to the host)");
    Y_host = y_copy.data();
  }
  const TsneBhFlatTree tree = tsne_bh_flatten(Y_host, n);
  const auto n_cells = static_cast<int64_t>(tree.cells.size());
  StreamArray<TsneBhFlatCell> cells(n_cells, stream);
  StreamArray<int64_t> order(n, stream);
  cells.upload(tree.cells.data(), n_cells);
  order.upload(tree.order.data(), static_cast<int64_t>(tree.order.size()));
  StreamArray<double> scratch(tsne_cuda_scratch_doubles(n), stream);
  StreamLaunch l{stream};
  gpu::tsne_bh_cuda_run(grad, kl, cells.get(), order.get(), Y, indptr, indices, pvals, n, theta,
                        exaggeration, scratch.get(), config, l);
  l.check("tsne_gradient_bh_cuda");
}

double finish_from_host(float* grad, const Uploaded<float>& d_grad, const Uploaded<double>& d_kl,
                        int64_t n, bool compute_kl, const char* what) {
  cuda_check(cudaStreamSynchronize(nullptr), what);
  d_grad.download(grad, 2 * n);
  double kl = std::numeric_limits<double>::quiet_NaN();
  if (compute_kl) d_kl.download(&kl, 1);
  return kl;
}

}  // namespace

void tsne_gradient_exact_cuda(float* grad, double* kl, const float* Y, const float* P, int64_t n,
                              double exaggeration, void* stream) {
  exact_on_stream(grad, kl, Y, P, n, exaggeration, 0, static_cast<cudaStream_t>(stream));
}

void tsne_gradient_bh_cuda(float* grad, double* kl, const float* Y, const float* Y_host,
                           const int64_t* indptr, const int64_t* indices, const float* pvals,
                           int64_t n, int64_t nnz, double theta, double exaggeration,
                           void* stream) {
  LF_CHECK(nnz >= 0, "tsne_gradient_bh_cuda: nnz must be >= 0, got ", nnz);
  bh_on_stream(grad, kl, Y, Y_host, indptr, indices, pvals, n, theta, exaggeration, 0,
               static_cast<cudaStream_t>(stream));
}

double tsne_gradient_exact_cuda_from_host(float* grad, const float* Y, const float* P, int64_t n,
                                          double exaggeration, bool compute_kl, int config) {
  tsne_cuda_check_host_exact(Y, P, n, exaggeration, config, "tsne_gradient_exact_cuda");
  Uploaded<float> d_y(Y, 2 * n), d_p(P, n * n), d_grad(nullptr, 2 * n);
  Uploaded<double> d_kl(nullptr, 1);
  exact_on_stream(d_grad.get(), compute_kl ? d_kl.get() : nullptr, d_y.get(), d_p.get(), n,
                  exaggeration, config, nullptr);
  return finish_from_host(grad, d_grad, d_kl, n, compute_kl, "tsne_gradient_exact_cuda execution");
}

double tsne_gradient_bh_cuda_from_host(float* grad, const float* Y, const int64_t* indptr,
                                       const int64_t* indices, const float* pvals, int64_t n,
                                       int64_t nnz, double theta, double exaggeration,
                                       bool compute_kl, int config) {
  tsne_cuda_check_host_bh(Y, indptr, indices, pvals, n, nnz, theta, exaggeration, config,
                          "tsne_gradient_bh_cuda");
  Uploaded<float> d_y(Y, 2 * n), d_v(pvals, nnz), d_grad(nullptr, 2 * n);
  Uploaded<int64_t> d_ip(indptr, n + 1), d_ix(indices, nnz);
  Uploaded<double> d_kl(nullptr, 1);
  bh_on_stream(d_grad.get(), compute_kl ? d_kl.get() : nullptr, d_y.get(), Y, d_ip.get(),
               d_ix.get(), d_v.get(), n, theta, exaggeration, config, nullptr);
  return finish_from_host(grad, d_grad, d_kl, n, compute_kl, "tsne_gradient_bh_cuda execution");
}

}  // namespace lf
