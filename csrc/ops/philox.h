// Counter-based uniform draws (CPU): the Philox 4x32-10 stream of core/rng.h written to an array.
//
// u[i] = uniform01(seed, stream, offset + i) for i in [0, n), a pure function of its arguments:
// a call with offset k reproduces the tail of a longer call from offset 0, and results are
// bitwise independent of num_threads (fixed 4096-element blocks, core/parallel.h). These are
// exactly the draws the RBM Gibbs kernels (ops/rbm_gibbs.h) compare against, so tests and
// Python code can reproduce a sampler's randomness.
#pragma once

#include <cstdint>

namespace lf {

// Optimized: uniform01_fill (8 Philox blocks at a time in structure-of-arrays form), OpenMP over
// blocks.
void uniform_cpu(float* u, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset,
                 int num_threads);

// Reference: one uniform01(seed, stream, offset + i) call per element, serial.
void uniform_naive(float* u, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset);

// ---- CUDA sibling (ops/philox_cuda.cu): the contract of uniform_cpu with a DEVICE pointer u,
// launched on `stream` (a cudaStream_t as void*; nullptr is the legacy default stream),
// asynchronous. The Philox stream is `stream_id` (uniform_cpu's `stream`). One thread per Philox
// block (4 draws) of core/rng.h, the same __host__ __device__ code as the CPU, and the conversion
// of a word to a float is exact, so u equals uniform_cpu's bit for bit for every n, offset (any
// residue mod 4, wrapping modulo 2^64) and launch configuration. n < 0 throws
// std::invalid_argument before anything is launched; n == 0 launches nothing.
void uniform_cuda(float* u, int64_t n, uint64_t seed, uint64_t stream_id, uint64_t offset,
                  void* stream);

// Launch configurations (block size, grid cap): uniform_cuda uses 0, the tests run all.
inline constexpr int kPhiloxCudaConfigs = 2;
// uniform_cuda on a HOST array (device buffer, copy out, synchronous) under launch configuration
// `config`, for the device tests.
void uniform_cuda_from_host(float* u, int64_t n, uint64_t seed, uint64_t stream_id, uint64_t offset,
                            int config);

}  // namespace lf
