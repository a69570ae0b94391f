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

// ---- CUDA sibling (ops/rbm_gibbs_cuda.cu): the contracts above with DEVICE pointers, launched on
// `stream` (a cudaStream_t as void*; nullptr is the legacy default stream), asynchronous. The
// Philox stream is `stream_id` (the CPU functions' `stream`). Draws: one thread per Philox block
// of 4 elements (the mapping of ops/philox_cuda.cuh), so element i still uses
// uniform01(seed, stream_id, offset + i), bit for bit the CPU's draw. Negative sizes throw
// std::invalid_argument before anything is launched; empty sizes launch nothing.
//
// p = 1 / (1 + expf(-z)) (the GEMM epilogue's device sigmoid, gemm_activate in
// ops/gemm_cuda.cuh, so p equals activation_forward_cuda's bit for bit), which differs from the
// CPU's SIMD sigmoid by a few ulp (testing.ACT_CUDA_RTOL); s = (u < p) ? 1 : 0 on that p, so s
// equals the CPU's wherever the draw u is farther from p than that difference. p may equal z;
// p and s must not overlap.
void sigmoid_bernoulli_cuda(float* p, float* s, const float* z, int64_t n, uint64_t seed,
                            uint64_t stream_id, uint64_t offset, void* stream);

// s = (u < p[i]) ? 1 : 0, bit for bit the CPU's where p is valid. A kernel cannot throw, so
// invalid probabilities (NaN or outside [0, 1]) are reported in the data instead: s[i] = NaN
// there, and *invalid = 1 if any p[i] of the call is invalid. *invalid is only ever SET (never
// cleared, so one flag can cover several launches): the caller zeroes it before the first launch
// and reads it after synchronizing. invalid may be nullptr (then only the NaN samples report).
// s may equal p.
void bernoulli_cuda(float* s, int32_t* invalid, const float* p, int64_t n, uint64_t seed,
                    uint64_t stream_id, uint64_t offset, void* stream);

// F[r] as rbm_free_energy_cpu: one block per row (grid-stride over rows); each thread accumulates
// its strided columns in double, then the block adds the per-thread sums (v . b_v and the
// softplus sum separately) in a fixed binary tree through shared memory and rounds
// -vb - sp once to float. Deterministic; differs from the CPU's in-order double sums (and glibc's
// exp / log1p vs libdevice's, <= 1 ulp in double) only in the last double bits, so F agrees
// after the final float rounding except within a few double ulp of a float rounding boundary
// (testing.RBM_FREE_ENERGY_CUDA_RTOL).
void rbm_free_energy_cuda(float* F, const float* V, const float* b_v, const float* Z, int64_t rows,
                          int64_t n_visible, int64_t n_hidden, void* stream);

// Launch configurations (block size, grid cap): the launchers above use 0, the tests run all.
inline constexpr int kRbmGibbsCudaConfigs = 2;

// The kernels above on HOST arrays (device buffers, copies in and out, synchronous) under launch
// configuration `config`, for the device tests. bernoulli_cuda_from_host with invalid == nullptr
// checks the device flag and throws std::invalid_argument (the CPU's message, naming the first
// invalid p[i]) without writing s; with a host `invalid`, it stores the flag there and writes s
// as the kernel left it (NaN at invalid p).
void sigmoid_bernoulli_cuda_from_host(float* p, float* s, const float* z, int64_t n, uint64_t seed,
                                      uint64_t stream_id, uint64_t offset, int config);
void bernoulli_cuda_from_host(float* s, int32_t* invalid, const float* p, int64_t n, uint64_t seed,
                              uint64_t stream_id, uint64_t offset, int config);
void rbm_free_energy_cuda_from_host(float* F, const float* V, const float* b_v, const float* Z,
                                    int64_t rows, int64_t n_visible, int64_t n_hidden, int config);

}  // namespace lf
