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

}  // namespace lf
