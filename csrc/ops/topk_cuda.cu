// CUDA row-wise top-k launchers and their host-array entries (contracts in ops/topk.h). The
// kernels, the geometry and the dispatch live in ops/topk_cuda.cuh, shared with the CPU emulator
// (emu/topk_cuda_emu.cpp).
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/check.h"
#include "core/cuda_utils.cuh"
#include "ops/topk.h"
#include "ops/topk_cuda.cuh"

namespace lf {

namespace {

using cuda::cuda_check;
using cuda::StreamLaunch;
template <class T>
using Buffer = cuda::DeviceArray<T>;

void forward(float* y, uint8_t* mask, int32_t* nan_flag, const float* x, int64_t rows, int64_t cols,
             int64_t k, int config, void* stream) {
  StreamLaunch l{static_cast<cudaStream_t>(stream)};
  gpu::topk_rows_cuda_run(y, mask, nan_flag, x, rows, cols, k, config, l);
  l.check("topk_rows_cuda");
}

void backward(float* dx, const float* dy, const uint8_t* mask, int64_t rows, int64_t cols,
              int config, void* stream) {
  StreamLaunch l{static_cast<cudaStream_t>(stream)};
  gpu::topk_rows_backward_cuda_run(dx, dy, mask, rows, cols, config, l);
  l.check("topk_rows_backward_cuda");
}

}  // namespace

void topk_rows_cuda(float* y, uint8_t* mask, int32_t* nan_flag, const float* x, int64_t rows,
                    int64_t cols, int64_t k, void* stream) {
  forward(y, mask, nan_flag, x, rows, cols, k, 0, stream);
}

void topk_rows_backward_cuda(float* dx, const float* dy, const uint8_t* mask, int64_t rows,
                             int64_t cols, void* stream) {
  backward(dx, dy, mask, rows, cols, 0, stream);
}

void topk_rows_cuda_from_host(float* y, uint8_t* mask, const float* x, int64_t rows, int64_t cols,
                              int64_t k, int config) {
  gpu::topk_cuda_check(y, mask, x, rows, cols, k, config);
  if (rows == 0 || cols == 0) return;
  const size_t n = static_cast<size_t>(rows) * static_cast<size_t>(cols);
  Buffer<float> dx(n), dy(n);
  Buffer<uint8_t> dm(n);
  Buffer<int32_t> dflag(1);
  dx.upload(x, n);
  forward(dy.get(), dm.get(), dflag.get(), dx.get(), rows, cols, k, config, nullptr);
  cuda_check(cudaStreamSynchronize(nullptr), "topk kernel execution");
  int32_t flag = 0;
  dflag.download(&flag, 1);
  LF_CHECK(flag == 0, "topk_rows: x contains NaN");
  dy.download(y, n);
  dm.download(mask, n);
}

void topk_rows_backward_cuda_from_host(float* dx, const float* dy, const uint8_t* mask,
                                       int64_t rows, int64_t cols, int config) {
  gpu::topk_backward_cuda_check(dx, dy, mask, rows, cols, config);
  if (rows == 0 || cols == 0) return;
  const size_t n = static_cast<size_t>(rows) * static_cast<size_t>(cols);
  Buffer<float> ddy(n), ddx(n);
  Buffer<uint8_t> dm(n);
  ddy.upload(dy, n);
  dm.upload(mask, n);
  backward(ddx.get(), ddy.get(), dm.get(), rows, cols, config, nullptr);
  cuda_check(cudaStreamSynchronize(nullptr), "topk backward kernel execution");
  ddx.download(dx, n);
}

}  // namespace lf
