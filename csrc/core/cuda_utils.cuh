// Host-side helpers for the CUDA launchers (nvcc only): error checks that throw, and an owning
// device buffer. Include the CUDA runtime as <cuda_runtime.h> (angle brackets): a quoted include
// from csrc/core/ would find core/cuda_runtime.h, latentforge's own header.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <utility>

#include "core/check.h"

namespace lf::cuda {

inline void cuda_check(cudaError_t err, const char* what) {
  LF_CHECK_RT(err == cudaSuccess, "CUDA error in ", what, ": ", cudaGetErrorString(err));
}

// Owns one device allocation; frees it on every path, including exceptions.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t count) {
    if (count)
      cuda_check(cudaMalloc(reinterpret_cast<void**>(&ptr_), count * sizeof(float)), "cudaMalloc");
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
inline DeviceBuffer upload(const float* host, int64_t rows, int64_t cols, int64_t ld) {
  DeviceBuffer dev(static_cast<size_t>(rows * cols));
  if (rows > 0 && cols > 0)
    cuda_check(cudaMemcpy2D(dev.get(), cols * sizeof(float), host, ld * sizeof(float),
                            cols * sizeof(float), rows, cudaMemcpyHostToDevice),
               "cudaMemcpy2D (host to device)");
  return dev;
}

// Launch errors (bad configuration, no device, a sticky error from an earlier kernel) surface
// here; faults during execution surface at the caller's next synchronization.
inline void check_launch(const char* what) {
  const cudaError_t err = cudaGetLastError();
  LF_CHECK_RT(err == cudaSuccess, what, ": kernel launch failed: ", cudaGetErrorString(err));
}

// A launch function for the kernels' .cuh dispatchers: kernel<<<grid, block, 0, stream>>>(args...),
// remembering whether anything was launched (a dispatcher launches nothing for empty sizes).
struct StreamLaunch {
  cudaStream_t stream;
  bool launched = false;
  template <class Kernel, class... Args>
  void operator()(dim3 grid, dim3 block, Kernel kernel, Args... args) {
    kernel<<<grid, block, 0, stream>>>(args...);
    launched = true;
  }
  void check(const char* what) const {
    if (launched) check_launch(what);
  }
};

}  // namespace lf::cuda
