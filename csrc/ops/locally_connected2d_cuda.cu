// CUDA locally connected launchers: lf::locally_connected2d_{forward,backward_data,
// backward_weights}_cuda and the host-array entry locally_connected2d_cuda_from_host (contracts
// in ops/locally_connected2d.h). The kernels and the launch geometry live in
// ops/locally_connected2d_cuda.cuh, shared with the CPU emulator
// (emu/locally_connected2d_cuda_emu.cpp).
#include <cuda_runtime.h>

#include "core/check.h"
#include "core/cuda_utils.cuh"
#include "ops/locally_connected2d.h"
#include "ops/locally_connected2d_cuda.cuh"

namespace lf {

namespace {

using cuda::check_launch;

}  // namespace

void locally_connected2d_forward_cuda(float* y, const float* x, const float* w, const float* bias,
                                      int64_t N, int64_t C_in, int64_t H, int64_t W, int64_t C_out,
                                      int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                                      void* stream) {
  const gpu::Lc2dDims d = gpu::lc2d_cuda_dims(N, C_in, H, W, C_out, kh, kw, sh, sw);
  const int64_t total = N * C_out * d.OH * d.OW;
  if (total == 0) return;  // an empty grid is an invalid launch
  const gpu::Lc2dLaunch g = gpu::lc2d_cuda_geometry(total, 0);
  gpu::lc2d_forward_kernel<<<g.grid, g.block, 0, static_cast<cudaStream_t>(stream)>>>(y, x, w, bias,
                                                                                      d);
  check_launch("locally_connected2d_forward_cuda");
}

void locally_connected2d_backward_data_cuda(float* dx, const float* dy, const float* w, int64_t N,
                                            int64_t C_in, int64_t H, int64_t W, int64_t C_out,
                                            int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                                            void* stream) {
  const gpu::Lc2dDims d = gpu::lc2d_cuda_dims(N, C_in, H, W, C_out, kh, kw, sh, sw);
  const int64_t total = N * C_in * H * W;
  if (total == 0) return;
  const gpu::Lc2dLaunch g = gpu::lc2d_cuda_geometry(total, 0);
  gpu::lc2d_backward_data_kernel<<<g.grid, g.block, 0, static_cast<cudaStream_t>(stream)>>>(dx, dy,
                                                                                            w, d);
  check_launch("locally_connected2d_backward_data_cuda");
}

void locally_connected2d_backward_weights_cuda(float* dw, float* db, const float* dy,
                                               const float* x, int64_t N, int64_t C_in, int64_t H,
                                               int64_t W, int64_t C_out, int64_t kh, int64_t kw,
                                               int64_t sh, int64_t sw, void* stream) {
  const gpu::Lc2dDims d = gpu::lc2d_cuda_dims(N, C_in, H, W, C_out, kh, kw, sh, sw);
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int64_t P = d.OH * d.OW;
  const int64_t total = P * C_out * C_in * kh * kw;
  if (total > 0) {
    const gpu::Lc2dLaunch g = gpu::lc2d_cuda_geometry(total, 0);
    gpu::lc2d_backward_weights_kernel<<<g.grid, g.block, 0, s>>>(dw, dy, x, d);
    check_launch("locally_connected2d_backward_weights_cuda");
  }
  if (db && C_out * P > 0) {
    const gpu::Lc2dLaunch g = gpu::lc2d_cuda_geometry(C_out * P, 0);
    gpu::lc2d_bias_grad_kernel<<<g.grid, g.block, 0, s>>>(db, dy, d);
    check_launch("locally_connected2d_backward_weights_cuda (bias)");
  }
}

void locally_connected2d_cuda_from_host(int pass, float* out0, float* out1, const float* in0,
                                        const float* in1, const float* in2, int64_t N, int64_t C_in,
                                        int64_t H, int64_t W, int64_t C_out, int64_t kh, int64_t kw,
                                        int64_t sh, int64_t sw) {
  LF_CHECK(pass >= 0 && pass <= 2,
           "locally_connected2d_cuda_from_host: pass must be 0, 1 or 2, got ", pass);
  const gpu::Lc2dDims d = gpu::lc2d_cuda_dims(N, C_in, H, W, C_out, kh, kw, sh, sw);
  const int64_t P = d.OH * d.OW;
  const int64_t nx = N * C_in * H * W, ny = N * C_out * P, nw = P * C_out * C_in * kh * kw;
  const int64_t nb = C_out * P;
  auto up = [](const float* p, int64_t n) { return cuda::upload(p, 1, n, n > 0 ? n : 1); };
  auto down = [](float* host, const cuda::DeviceBuffer& dev, int64_t n) {
    if (n > 0)
      cuda::cuda_check(cudaMemcpy(host, dev.get(), n * sizeof(float), cudaMemcpyDeviceToHost),
                       "cudaMemcpy (device to host)");
  };
  if (pass == 0) {
    cuda::DeviceBuffer dx = up(in0, nx), dw = up(in1, nw), db, dy(static_cast<size_t>(ny));
    if (in2) db = up(in2, nb);
    locally_connected2d_forward_cuda(dy.get(), dx.get(), dw.get(), db.get(), N, C_in, H, W, C_out,
                                     kh, kw, sh, sw, nullptr);
    cuda::cuda_check(cudaStreamSynchronize(nullptr), "locally_connected2d forward execution");
    down(out0, dy, ny);
  } else if (pass == 1) {
    cuda::DeviceBuffer ddy = up(in0, ny), dw = up(in1, nw), ddx(static_cast<size_t>(nx));
    locally_connected2d_backward_data_cuda(ddx.get(), ddy.get(), dw.get(), N, C_in, H, W, C_out, kh,
                                           kw, sh, sw, nullptr);
    cuda::cuda_check(cudaStreamSynchronize(nullptr), "locally_connected2d backward-data execution");
    down(out0, ddx, nx);
  } else {
    cuda::DeviceBuffer ddy = up(in0, ny), dx = up(in1, nx), ddw(static_cast<size_t>(nw)), ddb;
    if (out1) ddb = cuda::DeviceBuffer(static_cast<size_t>(nb));
    locally_connected2d_backward_weights_cuda(ddw.get(), out1 ? ddb.get() : nullptr, ddy.get(),
                                              dx.get(), N, C_in, H, W, C_out, kh, kw, sh, sw,
                                              nullptr);
    cuda::cuda_check(cudaStreamSynchronize(nullptr),
                     "locally_connected2d backward-weights execution");
    down(out0, ddw, nw);
    if (out1) down(out1, ddb, nb);
  }
}

}  // namespace lf
