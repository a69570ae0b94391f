// CUDA launchers of the fused optimizer updates and the max-norm constraint, plus their host-array
// entries (contracts in ops/optim.h). The kernels, the checks and the dispatch live in
// ops/optim_cuda.cuh, shared with the CPU emulator (emu/optim_cuda_emu.cpp). CMakeLists.txt
// compiles this file with -fmad=false, so every update rounds exactly like the CPU kernel.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/check.h"
#include "core/cuda_utils.cuh"
#include "ops/optim.h"
#include "ops/optim_cuda.cuh"

namespace lf {

namespace {

using cuda::StreamLaunch;

void step_on_stream(OptimRule rule, float* param, float* s0, float* s1, const float* grad,
                    int64_t n, const OptimHyper& h, int config, void* stream, const char* what) {
  StreamLaunch l{static_cast<cudaStream_t>(stream)};
  gpu::optim_cuda_run(rule, param, s0, s1, grad, n, h, config, l);
  l.check(what);
}

OptimHyper hyper(float lr, float weight_decay, float l1) {
  OptimHyper h;
  h.lr = lr;
  h.weight_decay = weight_decay;
  h.l1 = l1;
  return h;
}

cuda::DeviceBuffer upload_n(const float* host, int64_t n) {
  cuda::DeviceBuffer dev(host != nullptr ? static_cast<size_t>(n) : 0);
  if (n > 0 && host != nullptr) {
    cuda::cuda_check(
        cudaMemcpy(dev.get(), host, static_cast<size_t>(n) * sizeof(float), cudaMemcpyHostToDevice),
        "cudaMemcpy (host to device)");
  }
  return dev;
}

void download_n(float* host, const cuda::DeviceBuffer& dev, int64_t n) {
  if (n > 0 && host != nullptr) {
    cuda::cuda_check(
        cudaMemcpy(host, dev.get(), static_cast<size_t>(n) * sizeof(float), cudaMemcpyDeviceToHost),
        "cudaMemcpy (device to host)");
  }
}

}  // namespace

void sgd_step_cuda(float* param, const float* grad, int64_t n, float lr, float weight_decay,
                   float l1, void* stream) {
  step_on_stream(OptimRule::sgd, param, nullptr, nullptr, grad, n, hyper(lr, weight_decay, l1), 0,
                 stream, "sgd_step_cuda");
}

void momentum_step_cuda(float* param, float* momentum_buf, const float* grad, int64_t n, float lr,
                        float momentum, float weight_decay, float l1, void* stream) {
  OptimHyper h = hyper(lr, weight_decay, l1);
  h.momentum = momentum;
  step_on_stream(OptimRule::momentum, param, momentum_buf, nullptr, grad, n, h, 0, stream,
                 "momentum_step_cuda");
}

void nesterov_step_cuda(float* param, float* momentum_buf, const float* grad, int64_t n, float lr,
                        float momentum, float weight_decay, float l1, void* stream) {
  OptimHyper h = hyper(lr, weight_decay, l1);
  h.momentum = momentum;
  step_on_stream(OptimRule::nesterov, param, momentum_buf, nullptr, grad, n, h, 0, stream,
                 "nesterov_step_cuda");
}

void adagrad_step_cuda(float* param, float* sum_sq, const float* grad, int64_t n, float lr,
                       float eps, float weight_decay, float l1, void* stream) {
  OptimHyper h = hyper(lr, weight_decay, l1);
  h.eps = eps;
  step_on_stream(OptimRule::adagrad, param, sum_sq, nullptr, grad, n, h, 0, stream,
                 "adagrad_step_cuda");
}

void rmsprop_step_cuda(float* param, float* square_avg, float* momentum_buf, const float* grad,
                       int64_t n, float lr, float alpha, float eps, float momentum,
                       float weight_decay, float l1, void* stream) {
  OptimHyper h = hyper(lr, weight_decay, l1);
  h.alpha = alpha;
  h.eps = eps;
  h.momentum = momentum;
  step_on_stream(OptimRule::rmsprop, param, square_avg, momentum_buf, grad, n, h, 0, stream,
                 "rmsprop_step_cuda");
}

void adam_step_cuda(float* param, float* exp_avg, float* exp_avg_sq, const float* grad, int64_t n,
                    int64_t step, float lr, float beta1, float beta2, float eps, float weight_decay,
                    float l1, void* stream) {
  OptimHyper h = hyper(lr, weight_decay, l1);
  h.step = step;
  h.beta1 = beta1;
  h.beta2 = beta2;
  h.eps = eps;
  step_on_stream(OptimRule::adam, param, exp_avg, exp_avg_sq, grad, n, h, 0, stream,
                 "adam_step_cuda");
}

void adadelta_step_cuda(float* param, float* square_avg, float* acc_delta, const float* grad,
                        int64_t n, float lr, float rho, float eps, float weight_decay, float l1,
                        void* stream) {
  OptimHyper h = hyper(lr, weight_decay, l1);
  h.rho = rho;
  h.eps = eps;
  step_on_stream(OptimRule::adadelta, param, square_avg, acc_delta, grad, n, h, 0, stream,
                 "adadelta_step_cuda");
}

void max_norm_columns_cuda(float* W, int32_t* rescaled, int64_t rows, int64_t cols, float max_norm,
                           void* stream) {
  StreamLaunch l{static_cast<cudaStream_t>(stream)};
  gpu::max_norm_cuda_run(W, rescaled, rows, cols, max_norm, /*axis=*/0, 0, l);
  l.check("max_norm_columns_cuda");
}

void max_norm_rows_cuda(float* W, int32_t* rescaled, int64_t rows, int64_t cols, float max_norm,
                        void* stream) {
  StreamLaunch l{static_cast<cudaStream_t>(stream)};
  gpu::max_norm_cuda_run(W, rescaled, rows, cols, max_norm, /*axis=*/1, 0, l);
  l.check("max_norm_rows_cuda");
}

void optim_step_cuda_from_host(OptimRule rule, float* param, float* state0, float* state1,
                               const float* grad, int64_t n, const OptimHyper& h, int config) {
  gpu::OptimKernelArgs k;
  gpu::optim_cuda_prepare(rule, param, state0, state1, grad, n, h, k);  // before any copy
  gpu::optim_cuda_geometry(false, n, config);                           // checks config
  if (n == 0) return;
  cuda::DeviceBuffer d_p = upload_n(param, n), d_g = upload_n(grad, n);
  cuda::DeviceBuffer d_s0 = upload_n(state0, n), d_s1 = upload_n(state1, n);
  StreamLaunch l{nullptr};
  gpu::optim_cuda_run(rule, d_p.get(), state0 ? d_s0.get() : nullptr, state1 ? d_s1.get() : nullptr,
                      d_g.get(), n, h, config, l);
  l.check("optim_step_cuda_from_host");
  cuda::cuda_check(cudaStreamSynchronize(nullptr), "optimizer kernel execution");
  download_n(param, d_p, n);
  download_n(state0, d_s0, n);
  download_n(state1, d_s1, n);
}

int64_t max_norm_cuda_from_host(float* W, int64_t rows, int64_t cols, float max_norm, int axis,
                                int config) {
  gpu::max_norm_cuda_check(W, rows, cols, max_norm, axis, config);
  if (rows == 0 || cols == 0) return 0;
  const int64_t n = rows * cols, vectors = axis == 0 ? cols : rows;
  cuda::DeviceBuffer d_w = upload_n(W, n);
  cuda::DeviceBuffer d_flags(static_cast<size_t>(vectors));  // int32 in a float-sized buffer
  static_assert(sizeof(int32_t) == sizeof(float), "flags share the float device buffers");
  StreamLaunch l{nullptr};
  gpu::max_norm_cuda_run(d_w.get(), reinterpret_cast<int32_t*>(d_flags.get()), rows, cols, max_norm,
                         axis, config, l);
  l.check("max_norm_cuda_from_host");
  cuda::cuda_check(cudaStreamSynchronize(nullptr), "max-norm kernel execution");
  download_n(W, d_w, n);
  std::vector<int32_t> flags(static_cast<size_t>(vectors));
  cuda::cuda_check(
      cudaMemcpy(flags.data(), d_flags.get(), static_cast<size_t>(vectors) * sizeof(int32_t),
                 cudaMemcpyDeviceToHost),
      "cudaMemcpy (device to host)");
  int64_t count = 0;
  for (const int32_t f : flags) count += f;
  return count;
}

}  // namespace lf
