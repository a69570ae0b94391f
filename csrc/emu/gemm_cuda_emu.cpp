// Emulated twin of ops/gemm_cuda.cu: the same kernel source compiled by the host compiler.
#include "emu/gemm_cuda_emu.h"

#include "emu/cuda_emu.h"  // must come before the kernel: it defines the CUDA keywords

#include "ops/gemm_cuda.cuh"

namespace lf {

void gemm_forward_cuda_emulated(float* C, int64_t ldc, const float* A, int64_t lda, bool trans_a,
                                const float* B, int64_t ldb, bool trans_b, int64_t M, int64_t N,
                                int64_t K, float alpha, float beta, const float* bias,
                                Activation act, int config, const emu::Schedule& schedule) {
  emu::gemm_cuda_check_args(C, ldc, A, lda, trans_a, B, ldb, trans_b, M, N, K, alpha, act, config);
  if (M == 0 || N == 0) return;  // an empty grid is an invalid launch
  emu::gemm_cuda_dispatch(config, [&](auto tile) {
    using Tile = decltype(tile);
    const emu::GemmLaunch g = emu::gemm_cuda_geometry<Tile>(M, N);
    emu::launch(schedule, g.grid, g.block, &emu::gemm_forward_kernel<Tile>, C, ldc, A, lda, trans_a,
                B, ldb, trans_b, M, N, K, alpha, beta, bias, static_cast<int>(act));
  });
}

int gemm_cuda_emulated_num_configs() { return emu::kGemmCudaNumConfigs; }

}  // namespace lf
