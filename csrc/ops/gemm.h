// GEMM with a fused epilogue: the contract shared by the CPU and CUDA siblings.
//
//   C[M,N] = act( alpha * op(A) @ op(B) + beta * C + bias[None, :] )
//
// Sizes: M rows of C, N columns of C, K the inner dimension.
// Layout: all matrices row-major (C order) with leading dimensions (row strides, in elements):
//   op(A) is M x K: A is M x K (lda >= K) or, when trans_a, A is K x M (lda >= M).
//   op(B) is K x N: B is K x N (ldb >= N) or, when trans_b, B is N x K (ldb >= K).
//   C is M x N (ldc >= N). C is overwritten: it is read only when beta != 0 (BLAS semantics:
//   with beta == 0, NaN/Inf already in C do not propagate; with alpha == 0 or K == 0, A and B
//   are not read).
// bias: nullptr or N floats, added to every row after alpha/beta. act: applied last.
// The reduction over K runs in a fixed order per output element, so results do not depend on
// the thread count.
#pragma once

#include <cstdint>

#include "core/activation.h"

namespace lf {

// Naive triple loop with a double accumulator: the oracle in tests.
void gemm_forward_naive(float* C, int64_t ldc, const float* A, int64_t lda, bool trans_a,
                        const float* B, int64_t ldb, bool trans_b, int64_t M, int64_t N, int64_t K,
                        float alpha, float beta, const float* bias, Activation act);

// Packed, cache-blocked (BLIS-style) OpenMP GEMM with runtime ISA dispatch.
void gemm_forward_cpu(float* C, int64_t ldc, const float* A, int64_t lda, bool trans_a,
                      const float* B, int64_t ldb, bool trans_b, int64_t M, int64_t N, int64_t K,
                      float alpha, float beta, const float* bias, Activation act, int num_threads);

// gemm_forward_cpu on the calling thread alone, for kernels that parallelize over many
// independent GEMMs themselves (one image each, ...): safe to call from inside an OpenMP
// parallel region (or any thread), since it opens no parallel region and reaches no OpenMP
// construct (no worksharing loop, barrier or single) -- it is exactly the path that
// gemm_forward_cpu takes with num_threads == 1, so it gives the same bits as gemm_forward_cpu at
// any thread count. Its packing buffers belong to the calling thread (thread_local; they grow to
// the largest problem that thread has seen, at most KC x NC + MC x KC floats), so concurrent
// calls share no state. Exceptions (bad arguments, allocation failure) propagate to the caller,
// which must not let them leave its parallel region.
void gemm_forward_serial(float* C, int64_t ldc, const float* A, int64_t lda, bool trans_a,
                         const float* B, int64_t ldb, bool trans_b, int64_t M, int64_t N, int64_t K,
                         float alpha, float beta, const float* bias, Activation act);

// CUDA sibling: same arguments, but every pointer is a device pointer, and the last argument
// is the stream (a cudaStream_t passed as void* so this header needs no CUDA include).
// Launch errors are checked and thrown as std::runtime_error. A CPU-only build links a stub
// that throws "latentforge was built without CUDA".
void gemm_forward_cuda(float* C, int64_t ldc, const float* A, int64_t lda, bool trans_a,
                       const float* B, int64_t ldb, bool trans_b, int64_t M, int64_t N, int64_t K,
                       float alpha, float beta, const float* bias, Activation act, void* stream);

// Number of launch configurations (tile shapes) of the CUDA GEMM kernel (ops/gemm_cuda.cuh).
inline constexpr int kGemmCudaConfigs = 2;

// gemm_forward_cuda with an explicit launch configuration in [0, kGemmCudaConfigs);
// gemm_forward_cuda uses config 0.
void gemm_forward_cuda_config(float* C, int64_t ldc, const float* A, int64_t lda, bool trans_a,
                              const float* B, int64_t ldb, bool trans_b, int64_t M, int64_t N,
                              int64_t K, float alpha, float beta, const float* bias, Activation act,
                              int config, void* stream);

// gemm_forward_cuda_config on HOST arrays, for tests and the Python binding: copies A, B, bias and
// (only when beta != 0) C to freshly allocated device buffers, runs the kernel on the current
// device's default stream, synchronizes and copies C back. Leading dimensions may exceed the row
// width on the host (rows are copied with cudaMemcpy2D into compact device buffers; the padding
// of C is left untouched). Device memory is freed on every path. Throws std::invalid_argument on
// bad arguments and std::runtime_error on any CUDA error (including "no CUDA-capable device").
void gemm_cuda_from_host(float* C, int64_t ldc, const float* A, int64_t lda, bool trans_a,
                         const float* B, int64_t ldb, bool trans_b, int64_t M, int64_t N, int64_t K,
                         float alpha, float beta, const float* bias, Activation act, int config);

}  // namespace lf
