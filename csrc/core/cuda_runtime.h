// Host-side CUDA entry points with a plain C++ interface (no CUDA headers), callable from code
// compiled by the host compiler (bindings). Implemented in core/cuda_runtime.cu and
// ops/gemm_cuda.cu in a CUDA build; in a CPU-only build csrc/cuda_stubs.cpp defines them all:
// cuda_compiled() is false, cuda_device_count() is 0 and everything else throws
// std::runtime_error("latentforge was built without CUDA: ...").
//
// Note: inside .cu files include the CUDA runtime as <cuda_runtime.h> (angle brackets); a quoted
// include from csrc/core/ would find this file instead.
#pragma once

#include <cstdint>
#include <string>

#include "ops/gemm.h"

namespace lf {

// True when the extension was built with the CUDA kernels.
bool cuda_compiled();

// Number of usable CUDA devices; 0 without a driver, without a device, or in a CPU-only build.
// Never throws.
int cuda_device_count();

// Name of device `dev` (cudaDeviceProp::name). Throws std::invalid_argument for a bad index and
// std::runtime_error on CUDA errors.
std::string cuda_device_name(int dev);

// gemm_forward_cuda (ops/gemm.h) with an explicit launch configuration in
// [0, gemm_cuda_num_configs()) (emu/gemm_cuda_emu.h); gemm_forward_cuda uses config 0.
void gemm_forward_cuda_config(float* C, int64_t ldc, const float* A, int64_t lda, bool trans_a,
                              const float* B, int64_t ldb, bool trans_b, int64_t M, int64_t N,
                              int64_t K, float alpha, float beta, const float* bias,
                              Activation act, int config, void* stream);

// gemm_forward_cuda_config on HOST arrays, for tests and the Python binding: copies A, B, bias and
// (only when beta != 0) C to freshly allocated device buffers, runs the kernel on the current
// device's default stream, synchronizes and copies C back. Leading dimensions may exceed the row
// width on the host (rows are copied with cudaMemcpy2D into compact device buffers; the padding
// of C is left untouched). Device memory is freed on every path. Throws std::invalid_argument on
// bad arguments and std::runtime_error on any CUDA error (including "no CUDA-capable device").
void gemm_cuda_from_host(float* C, int64_t ldc, const float* A, int64_t lda, bool trans_a,
                         const float* B, int64_t ldb, bool trans_b, int64_t M, int64_t N,
                         int64_t K, float alpha, float beta, const float* bias, Activation act,
                         int config);

}  // namespace lf
