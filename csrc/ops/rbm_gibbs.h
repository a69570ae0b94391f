// Kernels of RBM Gibbs sampling and the RBM free energy (CPU), float32.
//
// Random draws are counter-based (core/rng.h): element i of a call uses
// uniform01(seed, stream, offset + i) (ops/philox.h gives those draws), whatever the thread count
// or block split, so a call with offset k reproduces the tail of a longer call from offset 0, and
// results are bitwise independent of num_threads. Work is split with parallel_for_blocks (fixed
// 4096-element blocks).
//
// All arrays are contiguous; outputs come first; num_threads last.
#pragma once

#include <cstdint>

namespace lf {

// p = sigmoid(z) (the vectorized sigmoid of core/vec_math.h for the active ISA, identical to a
// fused Linear(sigmoid)), s = (uniform01(seed, stream, offset + i) < p[i]) ? 1 : 0, written
// together block by block. p and s must not overlap each other; p may equal z (in place).
void sigmoid_bernoulli_cpu(float* p, float* s, const float* z, int64_t n, uint64_t seed,
                           uint64_t stream, uint64_t offset, int num_threads);

// Reference (serial): p[i] = 1 / (1 + exp(-z[i])) in double rounded to float32, s[i] =
// (uniform01(seed, stream, offset + i) < p[i]) ? 1 : 0, one draw at a time. p differs from
// sigmoid_bernoulli_cpu's by the vectorized sigmoid's error only, so s agrees wherever the draw
// is not within that error of p.
void sigmoid_bernoulli_naive(float* p, float* s, const float* z, int64_t n, uint64_t seed,
                             uint64_t stream, uint64_t offset);

// s = (uniform01(seed, stream, offset + i) < p[i]) ? 1 : 0. Throws std::invalid_argument
// (ValueError) if any p[i] is NaN or outside [0, 1] (checked before anything is written).
// s may equal p.
void bernoulli_cpu(float* s, const float* p, int64_t n, uint64_t seed, uint64_t stream,
                   uint64_t offset, int num_threads);

// F[r] = -dot(V[r], b_v) - sum_j softplus(Z[r, j]) for row-major V (rows x n_visible) and
// Z (rows x n_hidden), where Z = V @ W.T + b_h was computed by the caller (GEMM).
// softplus(z) = max(z, 0) + log1p(exp(-|z|)) (stable for any |z|); each row is accumulated in
// double in a fixed order and rounded once to float.
void rbm_free_energy_cpu(float* F, const float* V, const float* b_v, const float* Z, int64_t rows,
                         int64_t n_visible, int64_t n_hidden, int num_threads);

}  // namespace lf
