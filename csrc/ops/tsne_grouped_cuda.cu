// CUDA t-SNE optimiser step launchers and their host-array entries (contracts in
// ops/tsne_grouped.h, CUDA section). The kernels, the geometry and the dispatch live in
// ops/tsne_grouped_cuda.cuh, shared with the CPU emulator (emu/tsne_grouped_cuda_emu.cpp); the
// gradient of the whole-iteration step is tsne_gradient_bh_cuda's (ops/tsne_bh_cuda.cu).
// CMakeLists.txt compiles this file with -fmad=false, so the update rounds like the CPU's step().
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/check.h"
#include "core/cuda_utils.cuh"
#include "ops/tsne_bh.h"
#include "ops/tsne_grouped.h"
#include "ops/tsne_grouped_cuda.cuh"

namespace lf {

namespace {

using cuda::cuda_check;
using cuda::StreamArray;
using cuda::StreamLaunch;
template <class T>
using Uploaded = cuda::DeviceArray<T>;  // the host-array entries' buffers

void step_on_stream(double* Y, double* update, double* gains, int32_t* finite, const float* grad,
                    int64_t n, double momentum, double learning_rate, double min_gain, int config,
                    cudaStream_t stream) {
  tsne_step_cuda_check_params(n, momentum, learning_rate, min_gain, config, "tsne_step_cuda");
  StreamArray<int32_t> own(finite == nullptr ? 1 : 0, stream);
  if (finite == nullptr) finite = own.get();
  StreamLaunch l{stream};
  gpu::tsne_step_cuda_run(Y, update, gains, finite, grad, n, momentum, learning_rate, min_gain,
                          config, l);
  l.check("tsne_step_cuda");
}

void step_bh_on_stream(double* Y, double* update, double* gains, int32_t* finite, double* kl,
                       const int64_t* indptr, const int64_t* indices, const float* pvals, int64_t n,
                       int64_t nnz, double theta, double exaggeration, double momentum,
                       double learning_rate, double min_gain, int config, cudaStream_t stream) {
  const char* who = "tsne_step_bh_cuda";
  LF_CHECK(n >= 2, who, ": need at least 2 points, got n = ", n);
  LF_CHECK(nnz >= 0, who, ": nnz must be >= 0, got ", nnz);
  LF_CHECK(finite != nullptr, who, ": finite must be a device int32, got a null pointer");
  tsne_step_cuda_check_params(n, momentum, learning_rate, min_gain, config, who);
  StreamArray<float> y32(2 * n, stream), grad(2 * n, stream);
  {
    StreamLaunch l{stream};
    gpu::tsne_to_float32_cuda_run(y32.get(), Y, n, config, l);
    l.check(who);
  }
  // The quadtree is built on the host: fetch float32(Y) (the step's only synchronization).
  std::vector<float> y_host(static_cast<size_t>(2 * n));
  cuda_check(cudaMemcpyAsync(y_host.data(), y32.get(), y_host.size() * sizeof(float),
                             cudaMemcpyDeviceToHost, stream),
             "cudaMemcpyAsync (device to host)");
  cuda_check(cudaStreamSynchronize(stream), "tsne_step_bh_cuda (copying float32(Y) to the host)");
  bool y_finite = true;
  for (const float v : y_host) y_finite &= std::isfinite(v);
  if (!y_finite) {  // a diverged embedding: reported like a non-finite gradient, nothing modified
    StreamLaunch l{stream};
    gpu::tsne_step_fail_cuda_run(finite, kl, l);
    l.check(who);
    return;
  }
  tsne_gradient_bh_cuda(grad.get(), kl, y32.get(), y_host.data(), indptr, indices, pvals, n, nnz,
                        theta, exaggeration, stream);
  StreamLaunch l{stream};
  gpu::tsne_step_cuda_run(Y, update, gains, finite, grad.get(), n, momentum, learning_rate,
                          min_gain, config, l);
  l.check(who);
}

void download3(double* Y, double* update, double* gains, const Uploaded<double>& d_y,
               const Uploaded<double>& d_u, const Uploaded<double>& d_g, int64_t n,
               const char* what) {
  cuda_check(cudaStreamSynchronize(nullptr), what);
  d_y.download(Y, 2 * n);
  d_u.download(update, 2 * n);
  d_g.download(gains, 2 * n);
}

}  // namespace

void tsne_step_cuda(double* Y, double* update, double* gains, int32_t* finite, const float* grad,
                    int64_t n, double momentum, double learning_rate, double min_gain,
                    void* stream) {
  step_on_stream(Y, update, gains, finite, grad, n, momentum, learning_rate, min_gain, 0,
                 static_cast<cudaStream_t>(stream));
}

void tsne_step_bh_cuda(double* Y, double* update, double* gains, int32_t* finite, double* kl,
                       const int64_t* indptr, const int64_t* indices, const float* pvals, int64_t n,
                       int64_t nnz, double theta, double exaggeration, double momentum,
                       double learning_rate, double min_gain, void* stream) {
  step_bh_on_stream(Y, update, gains, finite, kl, indptr, indices, pvals, n, nnz, theta,
                    exaggeration, momentum, learning_rate, min_gain, 0,
                    static_cast<cudaStream_t>(stream));
}

bool tsne_step_cuda_from_host(double* Y, double* update, double* gains, const float* grad,
                              int64_t n, double momentum, double learning_rate, double min_gain,
                              int config) {
  tsne_step_cuda_check_params(n, momentum, learning_rate, min_gain, config, "tsne_step_cuda");
  Uploaded<double> d_y(Y, 2 * n), d_u(update, 2 * n), d_g(gains, 2 * n);
  Uploaded<float> d_grad(grad, 2 * n);
  Uploaded<int32_t> d_finite(nullptr, 1);
  step_on_stream(d_y.get(), d_u.get(), d_g.get(), d_finite.get(), d_grad.get(), n, momentum,
                 learning_rate, min_gain, config, nullptr);
  download3(Y, update, gains, d_y, d_u, d_g, n, "tsne_step_cuda execution");
  int32_t finite = 0;
  d_finite.download(&finite, 1);
  return finite != 0;
}

TsneBarnesHut::StepResult tsne_step_bh_cuda_from_host(
    double* Y, double* update, double* gains, const int64_t* indptr, const int64_t* indices,
    const float* pvals, int64_t n, int64_t nnz, double theta, double exaggeration, double momentum,
    double learning_rate, double min_gain, bool compute_kl, int config) {
  LF_CHECK(n >= 2, "tsne_step_bh_cuda: need at least 2 points, got n = ", n);
  check_tsne_csr(indptr, indices, pvals, n, nnz, "tsne_step_bh_cuda");
  Uploaded<double> d_y(Y, 2 * n), d_u(update, 2 * n), d_g(gains, 2 * n), d_kl(nullptr, 1);
  Uploaded<int64_t> d_ip(indptr, n + 1), d_ix(indices, nnz);
  Uploaded<float> d_v(pvals, nnz);
  Uploaded<int32_t> d_finite(nullptr, 1);
  step_bh_on_stream(d_y.get(), d_u.get(), d_g.get(), d_finite.get(),
                    compute_kl ? d_kl.get() : nullptr, d_ip.get(), d_ix.get(), d_v.get(), n, nnz,
                    theta, exaggeration, momentum, learning_rate, min_gain, config, nullptr);
  download3(Y, update, gains, d_y, d_u, d_g, n, "tsne_step_bh_cuda execution");
  int32_t finite = 0;
  d_finite.download(&finite, 1);
  TsneBarnesHut::StepResult r{std::numeric_limits<double>::quiet_NaN(), finite != 0};
  if (compute_kl) d_kl.download(&r.kl, 1);
  return r;
}

}  // namespace lf
