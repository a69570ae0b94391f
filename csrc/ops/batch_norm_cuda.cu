// CUDA batch normalisation launchers and their host-array entries (contracts in
// ops/batch_norm.h). The kernels live in ops/batch_norm_cuda.cuh, shared with the CPU emulator
// (emu/batch_norm_cuda_emu.cpp).
#include <cuda_runtime.h>

#include <cstdint>

#include "core/check.h"
#include "core/cuda_utils.cuh"
#include "ops/batch_norm.h"
#include "ops/batch_norm_cuda.cuh"

namespace lf {

namespace {

using cuda::check_launch;

// A device copy of `count` host floats, or an empty buffer for a null pointer.
cuda::DeviceBuffer upload_or_null(const float* host, int64_t count) {
  if (!host) return cuda::DeviceBuffer();
  return cuda::upload(host, 1, count, count);
}

void download(float* host, const cuda::DeviceBuffer& dev, int64_t count) {
  if (host && count > 0) {
    cuda::cuda_check(cudaMemcpy(host, dev.get(), static_cast<size_t>(count) * sizeof(float),
                                cudaMemcpyDeviceToHost),
                     "cudaMemcpy (device to host)");
  }
}

}  // namespace

void batch_norm_forward_train_cuda(float* y, float* mean, float* invstd, float* running_mean,
                                   float* running_var, const float* x, const float* gamma,
                                   const float* beta, int64_t N, int64_t C, int64_t HW,
                                   double momentum, double eps, int config, void* stream) {
  gpu::batch_norm_cuda_check(N, C, HW, /*training=*/true, config);
  gpu::batch_norm_cuda_check_scalars(momentum, eps);
  if (C == 0) return;  // an empty grid is an invalid launch
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  gpu::batch_norm_cuda_dispatch(config, [&](auto threads) {
    constexpr int T = decltype(threads)::value;
    gpu::batch_norm_forward_train_kernel<T><<<static_cast<unsigned>(C), T, 0, s>>>(
        y, mean, invstd, running_mean, running_var, x, gamma, beta, N, C, HW, momentum, eps);
  });
  check_launch("batch_norm_forward_train_cuda");
}

void batch_norm_backward_cuda(float* dx, float* dgamma, float* dbeta, const float* dy,
                              const float* x, const float* mean, const float* invstd,
                              const float* gamma, int64_t N, int64_t C, int64_t HW, bool training,
                              int config, void* stream) {
  gpu::batch_norm_cuda_check(N, C, HW, training, config);
  if (C == 0) return;
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  gpu::batch_norm_cuda_dispatch(config, [&](auto threads) {
    constexpr int T = decltype(threads)::value;
    gpu::batch_norm_backward_kernel<T><<<static_cast<unsigned>(C), T, 0, s>>>(
        dx, dgamma, dbeta, dy, x, mean, invstd, gamma, N, C, HW, training);
  });
  check_launch("batch_norm_backward_cuda");
}

void batch_norm_forward_eval_cuda(float* y, const float* x, const float* gamma, const float* beta,
                                  const float* mean, const float* var, int64_t N, int64_t C,
                                  int64_t HW, double eps, int config, void* stream) {
  gpu::batch_norm_cuda_check(N, C, HW, /*training=*/false, config);
  gpu::batch_norm_cuda_check_scalars(0.0, eps);
  if (C == 0) return;
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  gpu::batch_norm_cuda_dispatch(config, [&](auto threads) {
    constexpr int T = decltype(threads)::value;
    gpu::batch_norm_forward_eval_kernel<T>
        <<<static_cast<unsigned>(C), T, 0, s>>>(y, x, gamma, beta, mean, var, N, C, HW, eps);
  });
  check_launch("batch_norm_forward_eval_cuda");
}

void batch_norm_forward_train_cuda_from_host(float* y, float* mean, float* invstd,
                                             float* running_mean, float* running_var,
                                             const float* x, const float* gamma, const float* beta,
                                             int64_t N, int64_t C, int64_t HW, double momentum,
                                             double eps, int config) {
  gpu::batch_norm_cuda_check(N, C, HW, /*training=*/true, config);
  gpu::batch_norm_cuda_check_scalars(momentum, eps);
  if (C == 0) return;
  const int64_t total = N * C * HW;
  cuda::DeviceBuffer dx = cuda::upload(x, 1, total, total), dy(static_cast<size_t>(total));
  cuda::DeviceBuffer dg = upload_or_null(gamma, C), db = upload_or_null(beta, C);
  cuda::DeviceBuffer drm = upload_or_null(running_mean, C), drv = upload_or_null(running_var, C);
  cuda::DeviceBuffer dmean(static_cast<size_t>(C)), dinv(static_cast<size_t>(C));
  batch_norm_forward_train_cuda(dy.get(), dmean.get(), dinv.get(), drm.get(), drv.get(), dx.get(),
                                dg.get(), db.get(), N, C, HW, momentum, eps, config, nullptr);
  cuda::cuda_check(cudaStreamSynchronize(nullptr), "batch_norm kernel execution");
  download(y, dy, total);
  download(mean, dmean, C);
  download(invstd, dinv, C);
  download(running_mean, drm, C);
  download(running_var, drv, C);
}

void batch_norm_backward_cuda_from_host(float* dx, float* dgamma, float* dbeta, const float* dy,
                                        const float* x, const float* mean, const float* invstd,
                                        const float* gamma, int64_t N, int64_t C, int64_t HW,
                                        bool training, int config) {
  gpu::batch_norm_cuda_check(N, C, HW, training, config);
  if (C == 0) return;
  const int64_t total = N * C * HW;
  cuda::DeviceBuffer ddy = cuda::upload(dy, 1, total, total),
                     dxin = cuda::upload(x, 1, total, total);
  cuda::DeviceBuffer dm = cuda::upload(mean, 1, C, C), di = cuda::upload(invstd, 1, C, C);
  cuda::DeviceBuffer dg = upload_or_null(gamma, C), ddx(static_cast<size_t>(total));
  cuda::DeviceBuffer ddg(dgamma ? static_cast<size_t>(C) : 0),
      ddb(dbeta ? static_cast<size_t>(C) : 0);
  batch_norm_backward_cuda(ddx.get(), ddg.get(), ddb.get(), ddy.get(), dxin.get(), dm.get(),
                           di.get(), dg.get(), N, C, HW, training, config, nullptr);
  cuda::cuda_check(cudaStreamSynchronize(nullptr), "batch_norm kernel execution");
  download(dx, ddx, total);
  download(dgamma, ddg, C);
  download(dbeta, ddb, C);
}

void batch_norm_forward_eval_cuda_from_host(float* y, const float* x, const float* gamma,
                                            const float* beta, const float* mean, const float* var,
                                            int64_t N, int64_t C, int64_t HW, double eps,
                                            int config) {
  gpu::batch_norm_cuda_check(N, C, HW, /*training=*/false, config);
  gpu::batch_norm_cuda_check_scalars(0.0, eps);
  if (C == 0) return;
  const int64_t total = N * C * HW;
  cuda::DeviceBuffer dxin = cuda::upload(x, 1, total, total), dy(static_cast<size_t>(total));
  cuda::DeviceBuffer dg = upload_or_null(gamma, C), db = upload_or_null(beta, C);
  cuda::DeviceBuffer dm = cuda::upload(mean, 1, C, C), dv = cuda::upload(var, 1, C, C);
  batch_norm_forward_eval_cuda(dy.get(), dxin.get(), dg.get(), db.get(), dm.get(), dv.get(), N, C,
                               HW, eps, config, nullptr);
  cuda::cuda_check(cudaStreamSynchronize(nullptr), "batch_norm kernel execution");
  download(y, dy, total);
}

}  // namespace lf
