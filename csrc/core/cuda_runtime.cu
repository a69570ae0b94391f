// CUDA runtime helpers and the host-array GEMM entry point declared in core/cuda_runtime.h.
#include <cuda_runtime.h>  // the CUDA runtime, not core/cuda_runtime.h (see that header)

#include <cstddef>
#include <utility>

#include "core/check.h"
#include "core/cuda_runtime.h"
#include "ops/gemm_cuda.cuh"

namespace lf {
namespace {

void cuda_check(cudaError_t err, const char* what) {
  LF_CHECK_RT(err == cudaSuccess, "CUDA error in ", what, ": ", cudaGetErrorString(err));
}

// Owns one device allocation; frees it on every path, including exceptions.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t count) {
    if (count) cuda_check(cudaMalloc(reinterpret_cast<void**>(&ptr_), count * sizeof(float)),
                          "cudaMalloc");
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_) { o.ptr_ = nullptr; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(ptr_, o.ptr_);
    return *this;
  }
  ~DeviceBuffer() {
    if (ptr_) cudaFree(ptr_);  // errors cannot be reported from a destructor
  }
  float* get() const { return ptr_; }

 private:
  float* ptr_ = nullptr;
};

// A rows x cols host matrix with leading dimension ld, copied into a compact device buffer.
DeviceBuffer upload(const float* host, int64_t rows, int64_t cols, int64_t ld) {
  DeviceBuffer dev(static_cast<size_t>(rows * cols));
  if (rows > 0 && cols > 0)
    cuda_check(cudaMemcpy2D(dev.get(), cols * sizeof(float), host, ld * sizeof(float),
                            cols * sizeof(float), rows, cudaMemcpyHostToDevice),
               "cudaMemcpy2D (host to device)");
  return dev;
}

}  // namespace

bool cuda_compiled() { return true; }

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the error (no driver / no device) so later calls do not see it
    return 0;
  }
  return n;
}

std::string cuda_device_name(int dev) {
  const int n = cuda_device_count();
  LF_CHECK(dev >= 0 && dev < n, "cuda_device_name: device ", dev, " out of range (", n,
           " CUDA devices)");
  cudaDeviceProp prop;
  cuda_check(cudaGetDeviceProperties(&prop, dev), "cudaGetDeviceProperties");
  return prop.name;
}

void gemm_cuda_from_host(float* C, int64_t ldc, const float* A, int64_t lda, bool trans_a,
                         const float* B, int64_t ldb, bool trans_b, int64_t M, int64_t N,
                         int64_t K, float alpha, float beta, const float* bias, Activation act,
                         int config) {
  gpu::gemm_cuda_check_args(C, ldc, A, lda, trans_a, B, ldb, trans_b, M, N, K, alpha, act, config);
  if (M == 0 || N == 0) return;
  DeviceBuffer dA, dB, dBias;
  if (K > 0 && alpha != 0.0f) {  // otherwise A and B are not read, so not copied either
    dA = trans_a ? upload(A, K, M, lda) : upload(A, M, K, lda);
    dB = trans_b ? upload(B, N, K, ldb) : upload(B, K, N, ldb);
  }
  // C is read only when beta != 0: NaN/Inf in an unread C must not reach the device copy either.
  DeviceBuffer dC = beta != 0.0f ? upload(C, M, N, ldc) : DeviceBuffer(static_cast<size_t>(M * N));
  if (bias) dBias = upload(bias, 1, N, N);
  gemm_forward_cuda_config(dC.get(), N, dA.get(), trans_a ? M : K, trans_a, dB.get(),
                           trans_b ? K : N, trans_b, M, N, K, alpha, beta, dBias.get(), act, config,
                           /*stream=*/nullptr);
  cuda_check(cudaStreamSynchronize(nullptr), "gemm kernel execution");
  cuda_check(cudaMemcpy2D(C, ldc * sizeof(float), dC.get(), N * sizeof(float), N * sizeof(float),
                          M, cudaMemcpyDeviceToHost),
             "cudaMemcpy2D (device to host)");
}

}  // namespace lf
