// Emulated twin of ops/locally_connected2d_cuda.cu: the same kernel source compiled by the host
// compiler.
#include "emu/locally_connected2d_cuda_emu.h"

#include "emu/cuda_emu.h"  // must come before the kernel: it defines the CUDA keywords

#include "ops/locally_connected2d_cuda.cuh"

namespace lf {

void locally_connected2d_forward_cuda_emulated(float* y, const float* x, const float* w,
                                               const float* bias, int64_t N, int64_t C_in,
                                               int64_t H, int64_t W, int64_t C_out, int64_t kh,
                                               int64_t kw, int64_t sh, int64_t sw, int config,
                                               const emu::Schedule& schedule) {
  const emu::Lc2dDims d = emu::lc2d_cuda_dims(N, C_in, H, W, C_out, kh, kw, sh, sw);
  const int64_t total = N * C_out * d.OH * d.OW;
  if (total == 0) return;  // an empty grid is an invalid launch
  const emu::Lc2dLaunch g = emu::lc2d_cuda_geometry(total, config);
  emu::launch(schedule, g.grid, g.block, &emu::lc2d_forward_kernel, y, x, w, bias, d);
}

void locally_connected2d_backward_data_cuda_emulated(float* dx, const float* dy, const float* w,
                                                     int64_t N, int64_t C_in, int64_t H, int64_t W,
                                                     int64_t C_out, int64_t kh, int64_t kw,
                                                     int64_t sh, int64_t sw, int config,
                                                     const emu::Schedule& schedule) {
  const emu::Lc2dDims d = emu::lc2d_cuda_dims(N, C_in, H, W, C_out, kh, kw, sh, sw);
  const int64_t total = N * C_in * H * W;
  if (total == 0) return;
  const emu::Lc2dLaunch g = emu::lc2d_cuda_geometry(total, config);
  emu::launch(schedule, g.grid, g.block, &emu::lc2d_backward_data_kernel, dx, dy, w, d);
}

void locally_connected2d_backward_weights_cuda_emulated(float* dw, float* db, const float* dy,
                                                        const float* x, int64_t N, int64_t C_in,
                                                        int64_t H, int64_t W, int64_t C_out,
                                                        int64_t kh, int64_t kw, int64_t sh,
                                                        int64_t sw, int config,
                                                        const emu::Schedule& schedule) {
  const emu::Lc2dDims d = emu::lc2d_cuda_dims(N, C_in, H, W, C_out, kh, kw, sh, sw);
  const int64_t P = d.OH * d.OW;
  const int64_t total = P * C_out * C_in * kh * kw;
  if (total > 0) {
    const emu::Lc2dLaunch g = emu::lc2d_cuda_geometry(total, config);
    emu::launch(schedule, g.grid, g.block, &emu::lc2d_backward_weights_kernel, dw, dy, x, d);
  }
  if (db && C_out * P > 0) {
    const emu::Lc2dLaunch g = emu::lc2d_cuda_geometry(C_out * P, config);
    emu::launch(schedule, g.grid, g.block, &emu::lc2d_bias_grad_kernel, db, dy, d);
  }
}

int locally_connected2d_cuda_emulated_num_configs() { return emu::kLc2dCudaConfigs; }

}  // namespace lf
