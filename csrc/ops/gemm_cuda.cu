// CUDA GEMM launcher: lf::gemm_forward_cuda and its host-array entry gemm_cuda_from_host
// (contracts in ops/gemm.h). The kernel and the launch
// geometry live in ops/gemm_cuda.cuh, shared with the CPU emulator (emu/gemm_cuda_emu.cpp).
#include <cuda_runtime.h>

#include "core/check.h"
#include "core/cuda_utils.cuh"
#include "ops/gemm.h"
#include "ops/gemm_cuda.cuh"

namespace lf {

void gemm_forward_cuda_config(float* C, int64_t ldc, const float* A, int64_t lda, bool trans_a,
                              const float* B, int64_t ldb, bool trans_b, int64_t M, int64_t N,
                              int64_t K, float alpha, float beta, const float* bias, Activation act,
                              int config, void* stream) {
  gpu::gemm_cuda_check_args(C, ldc, A, lda, trans_a, B, ldb, trans_b, M, N, K, alpha, act, config);
  if (M == 0 || N == 0) return;  // an empty grid is an invalid launch
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  gpu::gemm_cuda_dispatch(config, [&](auto tile) {
    using Tile = decltype(tile);
    const gpu::GemmLaunch g = gpu::gemm_cuda_geometry<Tile>(M, N);
    gpu::gemm_forward_kernel<Tile><<<g.grid, g.block, 0, s>>>(C, ldc, A, lda, trans_a, B, ldb,
                                                              trans_b, M, N, K, alpha, beta, bias,
                                                              static_cast<int>(act));
  });
  cuda::check_launch("gemm_forward_cuda");
}

void gemm_forward_cuda(float* C, int64_t ldc, const float* A, int64_t lda, bool trans_a,
                       const float* B, int64_t ldb, bool trans_b, int64_t M, int64_t N, int64_t K,
                       float alpha, float beta, const float* bias, Activation act, void* stream) {
  gemm_forward_cuda_config(C, ldc, A, lda, trans_a, B, ldb, trans_b, M, N, K, alpha, beta, bias,
                           act, /*config=*/0, stream);
}

void gemm_cuda_from_host(float* C, int64_t ldc, const float* A, int64_t lda, bool trans_a,
                         const float* B, int64_t ldb, bool trans_b, int64_t M, int64_t N, int64_t K,
                         float alpha, float beta, const float* bias, Activation act, int config) {
  gpu::gemm_cuda_check_args(C, ldc, A, lda, trans_a, B, ldb, trans_b, M, N, K, alpha, act, config);
  if (M == 0 || N == 0) return;
  cuda::DeviceBuffer dA, dB, dBias;
  if (K > 0 && alpha != 0.0f) {  // otherwise A and B are not read, so not copied either
    dA = trans_a ? cuda::upload(A, K, M, lda) : cuda::upload(A, M, K, lda);
    dB = trans_b ? cuda::upload(B, N, K, ldb) : cuda::upload(B, K, N, ldb);
  }
  // C is read only when beta != 0: NaN/Inf in an unread C must not reach the device copy either.
  cuda::DeviceBuffer dC =
      beta != 0.0f ? cuda::upload(C, M, N, ldc) : cuda::DeviceBuffer(static_cast<size_t>(M * N));
  if (bias) dBias = cuda::upload(bias, 1, N, N);
  gemm_forward_cuda_config(dC.get(), N, dA.get(), trans_a ? M : K, trans_a, dB.get(),
                           trans_b ? K : N, trans_b, M, N, K, alpha, beta, dBias.get(), act, config,
                           /*stream=*/nullptr);
  cuda::cuda_check(cudaStreamSynchronize(nullptr), "gemm kernel execution");
  cuda::cuda_check(cudaMemcpy2D(C, ldc * sizeof(float), dC.get(), N * sizeof(float),
                                N * sizeof(float), M, cudaMemcpyDeviceToHost),
                   "cudaMemcpy2D (device to host)");
}

}  // namespace lf
