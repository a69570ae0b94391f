// CUDA elementwise launchers: activations, row softmax and row log-softmax, forward and backward,
// plus their host-array entry (contracts in ops/elementwise.h). The kernels, the geometry and the
// dispatch live in ops/elementwise_cuda.cuh, shared with the CPU emulator
// (emu/elementwise_cuda_emu.cpp). CMakeLists.txt compiles this file with -fmad=false, so the
// backward formulas round like the CPU's (no fused multiply-add).
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/check.h"
#include "core/cuda_utils.cuh"
#include "ops/elementwise.h"
#include "ops/elementwise_cuda.cuh"

namespace lf {

namespace {

using cuda::StreamLaunch;

void run_on_stream(ElementwiseCudaOp op, float* out, const float* a, const float* b, int64_t rows,
                   int64_t cols, Activation act, int config, void* stream, const char* what) {
  StreamLaunch l{static_cast<cudaStream_t>(stream)};
  gpu::elementwise_cuda_run(op, out, a, b, rows, cols, act, config, l);
  l.check(what);
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

}  // namespace

void activation_forward_cuda(float* y, const float* x, int64_t n, Activation act, void* stream) {
  run_on_stream(ElementwiseCudaOp::activation_forward, y, x, nullptr, 1, n, act, 0, stream,
                "activation_forward_cuda");
}

void activation_backward_cuda(float* dx, const float* dy, const float* y, int64_t n, Activation act,
                              void* stream) {
  run_on_stream(ElementwiseCudaOp::activation_backward, dx, dy, y, 1, n, act, 0, stream,
                "activation_backward_cuda");
}

void softmax_rows_cuda(float* y, const float* x, int64_t rows, int64_t cols, void* stream) {
  run_on_stream(ElementwiseCudaOp::softmax_forward, y, x, nullptr, rows, cols, Activation::none, 0,
                stream, "softmax_rows_cuda");
}

void softmax_rows_backward_cuda(float* dx, const float* dy, const float* y, int64_t rows,
                                int64_t cols, void* stream) {
  run_on_stream(ElementwiseCudaOp::softmax_backward, dx, dy, y, rows, cols, Activation::none, 0,
                stream, "softmax_rows_backward_cuda");
}

void log_softmax_rows_cuda(float* y, const float* x, int64_t rows, int64_t cols, void* stream) {
  run_on_stream(ElementwiseCudaOp::log_softmax_forward, y, x, nullptr, rows, cols, Activation::none,
                0, stream, "log_softmax_rows_cuda");
}

void log_softmax_rows_backward_cuda(float* dx, const float* dy, const float* y, int64_t rows,
                                    int64_t cols, void* stream) {
  run_on_stream(ElementwiseCudaOp::log_softmax_backward, dx, dy, y, rows, cols, Activation::none, 0,
                stream, "log_softmax_rows_backward_cuda");
}

void elementwise_cuda_from_host(ElementwiseCudaOp op, float* out, const float* a, const float* b,
                                int64_t rows, int64_t cols, Activation act, int config) {
  gpu::ew_cuda_check(op, out, a, b, rows, cols, act, config);
  const int64_t n = rows * cols;
  if (n == 0) return;
  cuda::DeviceBuffer d_a = upload_n(a, n), d_b = upload_n(b, n);
  cuda::DeviceBuffer d_out(static_cast<size_t>(n));
  run_on_stream(op, d_out.get(), d_a.get(), b != nullptr ? d_b.get() : nullptr, rows, cols, act,
                config, /*stream=*/nullptr, "elementwise_cuda_from_host");
  cuda::cuda_check(cudaStreamSynchronize(nullptr), "elementwise kernel execution");
  cuda::cuda_check(
      cudaMemcpy(out, d_out.get(), static_cast<size_t>(n) * sizeof(float), cudaMemcpyDeviceToHost),
      "cudaMemcpy (device to host)");
}

}  // namespace lf
