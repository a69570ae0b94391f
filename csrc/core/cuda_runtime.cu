// CUDA device queries declared in core/cuda_runtime.h.
#include <cuda_runtime.h>  // the CUDA runtime, not core/cuda_runtime.h (see that header)

#include "core/check.h"
#include "core/cuda_runtime.h"
#include "core/cuda_utils.cuh"

namespace lf {

using cuda::cuda_check;

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

std::string cuda_architectures() {
#ifdef LF_CUDA_ARCHITECTURES
  return LF_CUDA_ARCHITECTURES;
#else
  return "";
#endif
}

int cuda_pointer_device(std::uintptr_t ptr) {
  cudaPointerAttributes attr{};
  const cudaError_t err = cudaPointerGetAttributes(&attr, reinterpret_cast<const void*>(ptr));
  if (err == cudaErrorInvalidValue) {  // older runtimes: an unregistered host pointer
    cudaGetLastError();
    return -1;
  }
  cuda_check(err, "cudaPointerGetAttributes");
  if (attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged) return attr.device;
  return -1;
}

int cuda_current_device() {
  int dev = 0;
  cuda_check(cudaGetDevice(&dev), "cudaGetDevice");
  return dev;
}

CudaDeviceGuard::CudaDeviceGuard(int device) {
  const int n = cuda_device_count();
  LF_CHECK(device >= 0 && device < n, "device ", device, " out of range (", n, " CUDA devices)");
  previous_ = cuda_current_device();
  if (previous_ != device) cuda_check(cudaSetDevice(device), "cudaSetDevice");
}

CudaDeviceGuard::~CudaDeviceGuard() {
  if (previous_ >= 0) cudaSetDevice(previous_);  // errors cannot be reported from a destructor
}

void* cuda_stream_handle(std::uintptr_t stream) {
  if (stream == 1) return reinterpret_cast<void*>(cudaStreamLegacy);
  if (stream == 2) return reinterpret_cast<void*>(cudaStreamPerThread);
  return reinterpret_cast<void*>(stream);
}

void cuda_stream_wait(std::uintptr_t consumer, std::uintptr_t producer) {
  if (consumer == producer) return;
  cudaEvent_t ev;
  cuda_check(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming), "cudaEventCreate");
  cudaError_t err = cudaEventRecord(ev, static_cast<cudaStream_t>(cuda_stream_handle(producer)));
  if (err == cudaSuccess)
    err = cudaStreamWaitEvent(static_cast<cudaStream_t>(cuda_stream_handle(consumer)), ev, 0);
  cudaEventDestroy(ev);  // safe while pending: released once the wait is satisfied
  cuda_check(err, "cuda_stream_wait");
}

void cuda_stream_synchronize(std::uintptr_t stream) {
  cuda_check(cudaStreamSynchronize(static_cast<cudaStream_t>(cuda_stream_handle(stream))),
             "cudaStreamSynchronize");
}

}  // namespace lf
