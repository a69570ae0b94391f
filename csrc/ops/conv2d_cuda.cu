// CUDA conv2d launchers: lf::conv2d_{forward,backward_data,backward_weights}_cuda and the
// host-array entry conv2d_cuda_from_host (contracts in ops/conv2d.h). The kernels and the launch
// geometry live in ops/conv2d_cuda.cuh, shared with the CPU emulator (emu/conv2d_cuda_emu.cpp).
#include <cuda_runtime.h>

#include "core/check.h"
#include "core/cuda_utils.cuh"
#include "ops/conv2d.h"
#include "ops/conv2d_cuda.cuh"

namespace lf {

namespace {

using cuda::check_launch;

}  // namespace

void conv2d_forward_cuda(float* y, const float* x, const float* w, const float* bias, int64_t N,
                         int64_t C_in, int64_t H, int64_t W, int64_t C_out, int64_t kh, int64_t kw,
                         int64_t sh, int64_t sw, int64_t ph, int64_t pw, void* stream) {
  const gpu::Conv2dDims d = gpu::conv2d_cuda_dims(N, C_in, H, W, C_out, kh, kw, sh, sw, ph, pw);
  const int64_t total = N * C_out * d.OH * d.OW;
  if (total == 0) return;  // an empty grid is an invalid launch
  const gpu::Conv2dLaunch g = gpu::conv2d_cuda_geometry(total, 0);
  gpu::conv2d_forward_kernel<<<g.grid, g.block, 0, static_cast<cudaStream_t>(stream)>>>(y, x, w,
                                                                                        bias, d);
  check_launch("conv2d_forward_cuda");
}

void conv2d_backward_data_cuda(float* dx, const float* dy, const float* w, int64_t N, int64_t C_in,
                               int64_t H, int64_t W, int64_t C_out, int64_t kh, int64_t kw,
                               int64_t sh, int64_t sw, int64_t ph, int64_t pw, void* stream) {
  const gpu::Conv2dDims d = gpu::conv2d_cuda_dims(N, C_in, H, W, C_out, kh, kw, sh, sw, ph, pw);
  const int64_t total = N * C_in * H * W;
  if (total == 0) return;
  const gpu::Conv2dLaunch g = gpu::conv2d_cuda_geometry(total, 0);
  gpu::conv2d_backward_data_kernel<<<g.grid, g.block, 0, static_cast<cudaStream_t>(stream)>>>(
      dx, dy, w, d);
  check_launch("conv2d_backward_data_cuda");
}

void conv2d_backward_weights_cuda(float* dw, float* db, const float* dy, const float* x, int64_t N,
                                  int64_t C_in, int64_t H, int64_t W, int64_t C_out, int64_t kh,
                                  int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                                  void* stream) {
  const gpu::Conv2dDims d = gpu::conv2d_cuda_dims(N, C_in, H, W, C_out, kh, kw, sh, sw, ph, pw);
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int64_t total = C_out * C_in * kh * kw;
  if (total > 0) {
    const gpu::Conv2dLaunch g = gpu::conv2d_cuda_geometry(total, 0);
    gpu::conv2d_backward_weights_kernel<<<g.grid, g.block, 0, s>>>(dw, dy, x, d);
    check_launch("conv2d_backward_weights_cuda");
  }
  if (db && C_out > 0) {
    const gpu::Conv2dLaunch g = gpu::conv2d_cuda_geometry(C_out, 0);
    gpu::conv2d_bias_grad_kernel<<<g.grid, g.block, 0, s>>>(db, dy, d);
    check_launch("conv2d_backward_weights_cuda (bias)");
  }
}

void conv2d_cuda_from_host(int pass, float* out0, float* out1, const float* in0, const float* in1,
                           const float* in2, int64_t N, int64_t C_in, int64_t H, int64_t W,
                           int64_t C_out, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                           int64_t ph, int64_t pw) {
  LF_CHECK(pass >= 0 && pass <= 2, "conv2d_cuda_from_host: pass must be 0, 1 or 2, got ", pass);
  const gpu::Conv2dDims d = gpu::conv2d_cuda_dims(N, C_in, H, W, C_out, kh, kw, sh, sw, ph, pw);
  const int64_t nx = N * C_in * H * W, ny = N * C_out * d.OH * d.OW, nw = C_out * C_in * kh * kw;
  auto up = [](const float* p, int64_t n) { return cuda::upload(p, 1, n, n > 0 ? n : 1); };
  auto down = [](float* host, const cuda::DeviceBuffer& dev, int64_t n) {
    if (n > 0)
      cuda::cuda_check(cudaMemcpy(host, dev.get(), n * sizeof(float), cudaMemcpyDeviceToHost),
                       "cudaMemcpy (device to host)");
  };
  if (pass == 0) {
    cuda::DeviceBuffer dx = up(in0, nx), dw = up(in1, nw), db, dy(static_cast<size_t>(ny));
    if (in2) db = up(in2, C_out);
    conv2d_forward_cuda(dy.get(), dx.get(), dw.get(), db.get(), N, C_in, H, W, C_out, kh, kw, sh,
                        sw, ph, pw, nullptr);
    cuda::cuda_check(cudaStreamSynchronize(nullptr), "conv2d forward kernel execution");
    down(out0, dy, ny);
  } else if (pass == 1) {
    cuda::DeviceBuffer ddy = up(in0, ny), dw = up(in1, nw), ddx(static_cast<size_t>(nx));
    conv2d_backward_data_cuda(ddx.get(), ddy.get(), dw.get(), N, C_in, H, W, C_out, kh, kw, sh, sw,
                              ph, pw, nullptr);
    cuda::cuda_check(cudaStreamSynchronize(nullptr), "conv2d backward-data kernel execution");
    down(out0, ddx, nx);
  } else {
    cuda::DeviceBuffer ddy = up(in0, ny), dx = up(in1, nx), ddw(static_cast<size_t>(nw)), ddb;
    if (out1) ddb = cuda::DeviceBuffer(static_cast<size_t>(C_out));
    conv2d_backward_weights_cuda(ddw.get(), out1 ? ddb.get() : nullptr, ddy.get(), dx.get(), N,
                                 C_in, H, W, C_out, kh, kw, sh, sw, ph, pw, nullptr);
    cuda::cuda_check(cudaStreamSynchronize(nullptr), "conv2d backward-weights kernel execution");
    down(out0, ddw, nw);
    if (out1) down(out1, ddb, C_out);
  }
}

}  // namespace lf
