// CUDA device queries with a plain C++ interface (no CUDA headers), callable from code compiled
// by the host compiler (bindings). Implemented in core/cuda_runtime.cu in a CUDA build; in a
// CPU-only build csrc/cuda_stubs.cpp defines them (and every op's *_cuda entry point):
// cuda_compiled() is false, cuda_device_count() is 0 and everything else throws
// std::runtime_error("latentforge was built without CUDA: ...").
//
// Note: inside .cu files include the CUDA runtime as <cuda_runtime.h> (angle brackets); a quoted
// include from csrc/core/ would find this file instead.
#pragma once

#include <cstdint>
#include <string>

namespace lf {

// True when the extension was built with the CUDA kernels.
bool cuda_compiled();

// Number of usable CUDA devices; 0 without a driver, without a device, or in a CPU-only build.
// Never throws.
int cuda_device_count();

// Name of device `dev` (cudaDeviceProp::name). Throws std::invalid_argument for a bad index and
// std::runtime_error on CUDA errors.
std::string cuda_device_name(int dev);

// The CUDA architectures the device kernels were compiled for (CMAKE_CUDA_ARCHITECTURES, e.g.
// "75;80;86;89;90"); empty in a CPU-only build. Never throws.
std::string cuda_architectures();

// ---- Raw device memory and streams, for the device-pointer bindings (_C.device) ----
// Pointers and streams travel as integers (what __cuda_array_interface__ and CuPy hand out).

// The device that owns the memory at `ptr`: its index for device or managed memory, -1 for
// ordinary (pageable, unregistered) host memory. Throws std::runtime_error on CUDA errors and in a
// CPU-only build.
int cuda_pointer_device(std::uintptr_t ptr);

// The current device of the calling host thread (cudaGetDevice).
int cuda_current_device();

// Makes `device` current for the lifetime of the guard and restores the previous one after.
// Throws std::invalid_argument for an index outside [0, cuda_device_count()).
class CudaDeviceGuard {
 public:
  explicit CudaDeviceGuard(int device);
  ~CudaDeviceGuard();
  CudaDeviceGuard(const CudaDeviceGuard&) = delete;
  CudaDeviceGuard& operator=(const CudaDeviceGuard&) = delete;

 private:
  int previous_ = -1;
};

// Orders `consumer` after everything enqueued so far on `producer` (an event recorded on the
// producer, waited on by the consumer; the host does not block). Stream handles follow the
// __cuda_array_interface__ v3 convention: 1 is the legacy default stream, 2 the per-thread
// default stream, any other value a cudaStream_t. A no-op when both are the same stream.
void cuda_stream_wait(std::uintptr_t consumer, std::uintptr_t producer);

// Blocks the host until `stream` (same convention) has finished its work.
void cuda_stream_synchronize(std::uintptr_t stream);

// The cudaStream_t for a stream handle of the convention above (1 -> cudaStreamLegacy,
// 2 -> cudaStreamPerThread, 0 -> the default stream), as void* for the op launchers.
void* cuda_stream_handle(std::uintptr_t stream);

}  // namespace lf
