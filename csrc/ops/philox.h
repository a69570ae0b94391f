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

}  // namespace lf
