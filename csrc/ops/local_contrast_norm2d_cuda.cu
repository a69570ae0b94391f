// CUDA local contrast normalisation launchers (contracts in ops/local_contrast_norm2d.h). The
// kernels and the launch sequences live in ops/local_contrast_norm2d_cuda.cuh, shared with the CPU
// emulator (emu/local_contrast_norm2d_cuda_emu.cpp).
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/check.h"
#include "core/cuda_utils.cuh"
#include "ops/local_contrast_norm2d.h"
#include "ops/local_contrast_norm2d_cuda.cuh"

namespace lf {

namespace {

// launch(grid, block, kernel, args...) on one stream; launch errors surface at once.
struct StreamLaunch {
  cudaStream_t stream;
  template <class... Params, class... Args>
  void operator()(dim3 grid, dim3 block, void (*kernel)(Params...), Args&&... args) const {
    kernel<<<grid, block, 0, stream>>>(static_cast<Params>(args)...);
    cuda::check_launch("local_contrast_norm2d_cuda");
  }
};

cuda::DeviceBuffer upload(const float* host, int64_t count) {
  return cuda::upload(host, 1, count, count);
}

void download(float* host, const cuda::DeviceBuffer& dev, int64_t count) {
  if (count > 0) {
    cuda::cuda_check(cudaMemcpy(host, dev.get(), static_cast<size_t>(count) * sizeof(float),
                                cudaMemcpyDeviceToHost),
                     "cudaMemcpy (device to host)");
  }
}

}  // namespace

void local_contrast_norm2d_forward_cuda(float* y, float* mean, float* sigma_map, float* c,
                                        const float* x, int64_t N, int64_t C, int64_t H, int64_t W,
                                        int64_t size, double sigma, double eps, int config,
                                        void* stream) {
  const gpu::LcnArgs a = gpu::lcn_cuda_args(N, C, H, W, size, sigma, eps, config);
  gpu::lcn_forward_sequence(StreamLaunch{static_cast<cudaStream_t>(stream)}, y, mean, sigma_map, c,
                            x, a, config);
}

void local_contrast_norm2d_backward_cuda(float* dx, float* work, const float* dy, const float* x,
                                         const float* mean, const float* sigma_map, const float* c,
                                         int64_t N, int64_t C, int64_t H, int64_t W, int64_t size,
                                         double sigma, double eps, int config, void* stream) {
  const gpu::LcnArgs a = gpu::lcn_cuda_args(N, C, H, W, size, sigma, eps, config);
  gpu::lcn_backward_sequence(StreamLaunch{static_cast<cudaStream_t>(stream)}, dx, work, dy, x, mean,
                             sigma_map, c, a, config);
}

void local_contrast_norm2d_forward_cuda_from_host(float* y, float* mean, float* sigma_map, float* c,
                                                  const float* x, int64_t N, int64_t C, int64_t H,
                                                  int64_t W, int64_t size, double sigma, double eps,
                                                  int config) {
  gpu::lcn_cuda_args(N, C, H, W, size, sigma, eps, config);  // check before any allocation
  const int64_t total = N * C * H * W, npos = N * H * W;
  if (npos == 0) return;
  cuda::DeviceBuffer dx = upload(x, total), dy(static_cast<size_t>(total));
  cuda::DeviceBuffer dm(static_cast<size_t>(npos)), ds(static_cast<size_t>(npos)),
      dc(static_cast<size_t>(N));
  local_contrast_norm2d_forward_cuda(dy.get(), dm.get(), ds.get(), dc.get(), dx.get(), N, C, H, W,
                                     size, sigma, eps, config, /*stream=*/nullptr);
  cuda::cuda_check(cudaStreamSynchronize(nullptr), "local_contrast_norm2d forward execution");
  download(y, dy, total);
  download(mean, dm, npos);
  download(sigma_map, ds, npos);
  download(c, dc, N);
}

void local_contrast_norm2d_backward_cuda_from_host(float* dx, const float* dy, const float* x,
                                                   const float* mean, const float* sigma_map,
                                                   const float* c, int64_t N, int64_t C, int64_t H,
                                                   int64_t W, int64_t size, double sigma,
                                                   double eps, int config) {
  gpu::lcn_cuda_args(N, C, H, W, size, sigma, eps, config);
  const int64_t total = N * C * H * W, npos = N * H * W;
  if (npos == 0) return;
  cuda::DeviceBuffer ddy = upload(dy, total), dxin = upload(x, total), dm = upload(mean, npos),
                     ds = upload(sigma_map, npos), dc = upload(c, N);
  cuda::DeviceBuffer ddx(static_cast<size_t>(total)),
      work(static_cast<size_t>(local_contrast_norm2d_cuda_work_size(N, H, W)));
  local_contrast_norm2d_backward_cuda(ddx.get(), work.get(), ddy.get(), dxin.get(), dm.get(),
                                      ds.get(), dc.get(), N, C, H, W, size, sigma, eps, config,
                                      /*stream=*/nullptr);
  cuda::cuda_check(cudaStreamSynchronize(nullptr), "local_contrast_norm2d backward execution");
  download(dx, ddx, total);
}

}  // namespace lf
