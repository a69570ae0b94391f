// Emulated twin of ops/pool2d_cuda.cu: the same kernel source compiled by the host compiler.
#include "emu/pool2d_cuda_emu.h"

#include "emu/cuda_emu.h"  // must come before the kernel: it defines the CUDA keywords

#include "ops/pool2d_cuda.cuh"

namespace lf {

void pool2d_forward_cuda_emulated(float* y, int32_t* argmax, const float* x, const Pool2dShape& s,
                                  PoolMode mode, int config, const emu::Schedule& schedule) {
  emu::pool2d_cuda_check_args(y, x, argmax, x, y, s, mode, config, /*backward=*/false);
  const int64_t total = s.n * s.c * s.oh * s.ow;
  if (total == 0) return;  // an empty grid is an invalid launch
  const emu::PoolLaunch g = emu::pool2d_cuda_geometry(total, config);
  emu::pool2d_cuda_dispatch(mode, [&](auto m) {
    constexpr int M = decltype(m)::value;
    emu::launch(schedule, g.grid, g.block, &emu::pool2d_forward_kernel<M>, y, argmax, x, s);
  });
}

void pool2d_backward_cuda_emulated(float* dx, const float* dy, const int32_t* argmax,
                                   const float* x, const float* y, const Pool2dShape& s,
                                   PoolMode mode, int config, const emu::Schedule& schedule) {
  emu::pool2d_cuda_check_args(dx, dy, argmax, x, y, s, mode, config, /*backward=*/true);
  const int64_t total = s.n * s.c * s.h * s.w;
  if (total == 0) return;
  const emu::PoolLaunch g = emu::pool2d_cuda_geometry(total, config);
  emu::pool2d_cuda_dispatch(mode, [&](auto m) {
    constexpr int M = decltype(m)::value;
    emu::launch(schedule, g.grid, g.block, &emu::pool2d_backward_kernel<M>, dx, dy, argmax, x, y,
                s);
  });
}

}  // namespace lf
