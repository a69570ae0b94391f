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

// Owns one device allocation of `count` T (cudaMalloc, synchronous), freed on every path,
// including exceptions: the host-array entry points' buffers. upload / download copy `count`
// elements synchronously.
template <class T>
class DeviceArray {
 public:
  DeviceArray() = default;
  explicit DeviceArray(int64_t count) {
    if (count > 0)
      cuda_check(
          cudaMalloc(reinterpret_cast<void**>(&ptr_), static_cast<size_t>(count) * sizeof(T)),
          "cudaMalloc");
  }
  // `count` elements, initialised from `host` unless it is null.
  DeviceArray(const T* host, int64_t count) : DeviceArray(count) {
    if (host != nullptr) upload(host, count);
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  DeviceArray(DeviceArray&& o) noexcept : ptr_(o.ptr_) { o.ptr_ = nullptr; }
  DeviceArray& operator=(DeviceArray&& o) noexcept {
    std::swap(ptr_, o.ptr_);
    return *this;
  }
  ~DeviceArray() {
    if (ptr_) cudaFree(ptr_);  // errors cannot be reported from a destructor
  }
  T* get() const { return ptr_; }
  void upload(const T* host, int64_t count) {
    if (count > 0)
      cuda_check(
          cudaMemcpy(ptr_, host, static_cast<size_t>(count) * sizeof(T), cudaMemcpyHostToDevice),
          "cudaMemcpy (host to device)");
  }
  void download(T* host, int64_t count) const {
    if (count > 0)
      cuda_check(
          cudaMemcpy(host, ptr_, static_cast<size_t>(count) * sizeof(T), cudaMemcpyDeviceToHost),
          "cudaMemcpy (device to host)");
  }

 private:
  T* ptr_ = nullptr;
};

using DeviceBuffer = DeviceArray<float>;

// `count` elements of T allocated and freed in stream order (cudaMallocAsync / cudaFreeAsync on
// `stream`): launchers use it for scratch and return without waiting for their kernels.
template <class T>
class StreamArray {
 public:
  StreamArray(int64_t count, cudaStream_t stream) : stream_(stream) {
    if (count > 0)
      cuda_check(cudaMallocAsync(reinterpret_cast<void**>(&ptr_),
                                 static_cast<size_t>(count) * sizeof(T), stream_),
                 "cudaMallocAsync");
  }
  StreamArray(const StreamArray&) = delete;
  StreamArray& operator=(const StreamArray&) = delete;
  ~StreamArray() {
    if (ptr_) cudaFreeAsync(ptr_, stream_);  // errors cannot be reported from a destructor
  }
  T* get() const { return ptr_; }
  // Host to device on the stream. From pageable memory the call returns once the data is staged,
  // so `host` may be released afterwards.
  void upload(const T* host, int64_t count) {
    if (count > 0)
      cuda_check(cudaMemcpyAsync(ptr_, host, static_cast<size_t>(count) * sizeof(T),
                                 cudaMemcpyHostToDevice, stream_),
                 "cudaMemcpyAsync (host to device)");
  }

 private:
  T* ptr_ = nullptr;
  cudaStream_t stream_;
};

// A rows x cols host matrix with leading dimension ld, copied into a compact device buffer.
inline DeviceBuffer upload(const float* host, int64_t rows, int64_t cols, int64_t ld) {
  DeviceBuffer dev(rows * cols);
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
