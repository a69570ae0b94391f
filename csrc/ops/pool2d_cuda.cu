// CUDA pooling launchers: lf::pool2d_forward_cuda / pool2d_backward_cuda and their host-array
// entries (contracts in ops/pool2d.h). The kernels and the launch geometry live in
// ops/pool2d_cuda.cuh, shared with the CPU emulator (emu/pool2d_cuda_emu.cpp).
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/check.h"
#include "core/cuda_utils.cuh"
#include "ops/pool2d.h"
#include "ops/pool2d_cuda.cuh"

namespace lf {

namespace {

using cuda::check_launch;

// int32 and float have the same size: argmax travels in a float-typed device buffer.
static_assert(sizeof(int32_t) == sizeof(float), "argmax shares the float device buffers");

cuda::DeviceBuffer upload_raw(const void* host, int64_t count) {
  cuda::DeviceBuffer dev(static_cast<size_t>(count));
  if (count > 0) {
    cuda::cuda_check(cudaMemcpy(dev.get(), host, static_cast<size_t>(count) * sizeof(float),
                                cudaMemcpyHostToDevice),
                     "cudaMemcpy (host to device)");
  }
  return dev;
}

void download_raw(void* host, const cuda::DeviceBuffer& dev, int64_t count) {
  if (count > 0) {
    cuda::cuda_check(cudaMemcpy(host, dev.get(), static_cast<size_t>(count) * sizeof(float),
                                cudaMemcpyDeviceToHost),
                     "cudaMemcpy (device to host)");
  }
}

}  // namespace

void pool2d_forward_cuda_config(float* y, int32_t* argmax, const float* x, const Pool2dShape& s,
                                PoolMode mode, int config, void* stream) {
  gpu::pool2d_cuda_check_args(y, x, argmax, x, y, s, mode, config, /*backward=*/false);
  const int64_t total = s.n * s.c * s.oh * s.ow;
  if (total == 0) return;  // an empty grid is an invalid launch
  const gpu::PoolLaunch g = gpu::pool2d_cuda_geometry(total, config);
  const cudaStream_t st = static_cast<cudaStream_t>(stream);
  gpu::pool2d_cuda_dispatch(mode, [&](auto m) {
    constexpr int M = decltype(m)::value;
    gpu::pool2d_forward_kernel<M><<<g.grid, g.block, 0, st>>>(y, argmax, x, s);
  });
  check_launch("pool2d_forward_cuda");
}

void pool2d_backward_cuda_config(float* dx, const float* dy, const int32_t* argmax, const float* x,
                                 const float* y, const Pool2dShape& s, PoolMode mode, int config,
                                 void* stream) {
  gpu::pool2d_cuda_check_args(dx, dy, argmax, x, y, s, mode, config, /*backward=*/true);
  const int64_t total = s.n * s.c * s.h * s.w;
  if (total == 0) return;
  const gpu::PoolLaunch g = gpu::pool2d_cuda_geometry(total, config);
  const cudaStream_t st = static_cast<cudaStream_t>(stream);
  gpu::pool2d_cuda_dispatch(mode, [&](auto m) {
    constexpr int M = decltype(m)::value;
    gpu::pool2d_backward_kernel<M><<<g.grid, g.block, 0, st>>>(dx, dy, argmax, x, y, s);
  });
  check_launch("pool2d_backward_cuda");
}

void pool2d_forward_cuda(float* y, int32_t* argmax, const float* x, const Pool2dShape& s,
                         PoolMode mode, void* stream) {
  pool2d_forward_cuda_config(y, argmax, x, s, mode, /*config=*/0, stream);
}

void pool2d_backward_cuda(float* dx, const float* dy, const int32_t* argmax, const float* x,
                          const float* y, const Pool2dShape& s, PoolMode mode, void* stream) {
  pool2d_backward_cuda_config(dx, dy, argmax, x, y, s, mode, /*config=*/0, stream);
}

void pool2d_forward_cuda_from_host(float* y, int32_t* argmax, const float* x, const Pool2dShape& s,
                                   PoolMode mode, int config) {
  gpu::pool2d_cuda_check_args(y, x, argmax, x, y, s, mode, config, /*backward=*/false);
  const int64_t n_in = s.n * s.c * s.h * s.w, n_out = s.n * s.c * s.oh * s.ow;
  if (n_out == 0) return;
  const bool max = mode == PoolMode::max;
  cuda::DeviceBuffer dx = upload_raw(x, n_in);
  cuda::DeviceBuffer dy(static_cast<size_t>(n_out));
  cuda::DeviceBuffer da(max ? static_cast<size_t>(n_out) : 0);
  pool2d_forward_cuda_config(dy.get(), reinterpret_cast<int32_t*>(da.get()), dx.get(), s, mode,
                             config, /*stream=*/nullptr);
  cuda::cuda_check(cudaStreamSynchronize(nullptr), "pool2d forward kernel execution");
  download_raw(y, dy, n_out);
  if (max) download_raw(argmax, da, n_out);
}

void pool2d_backward_cuda_from_host(float* dx, const float* dy, const int32_t* argmax,
                                    const float* x, const float* y, const Pool2dShape& s,
                                    PoolMode mode, int config) {
  gpu::pool2d_cuda_check_args(dx, dy, argmax, x, y, s, mode, config, /*backward=*/true);
  const int64_t n_in = s.n * s.c * s.h * s.w, n_out = s.n * s.c * s.oh * s.ow;
  if (n_in == 0) return;
  cuda::DeviceBuffer d_dy = upload_raw(dy, n_out);
  cuda::DeviceBuffer d_a, d_x, d_y;
  if (mode == PoolMode::max) d_a = upload_raw(argmax, n_out);
  if (mode == PoolMode::l2) {
    d_x = upload_raw(x, n_in);
    d_y = upload_raw(y, n_out);
  }
  cuda::DeviceBuffer d_dx(static_cast<size_t>(n_in));
  pool2d_backward_cuda_config(d_dx.get(), d_dy.get(), reinterpret_cast<const int32_t*>(d_a.get()),
                              d_x.get(), d_y.get(), s, mode, config, /*stream=*/nullptr);
  cuda::cuda_check(cudaStreamSynchronize(nullptr), "pool2d backward kernel execution");
  download_raw(dx, d_dx, n_in);
}

}  // namespace lf
