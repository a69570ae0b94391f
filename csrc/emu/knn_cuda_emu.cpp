// Emulated twin of ops/knn_cuda.cu: the same pipeline and kernel source compiled by the host
// compiler, with the emulated device GEMM (emu/gemm_cuda_emu.h) for the distance tiles.
#include "emu/knn_cuda_emu.h"

#include <cstddef>
#include <limits>
#include <vector>

#include "emu/cuda_emu.h"  // must come before the kernels: it defines the CUDA keywords
#include "emu/gemm_cuda_emu.h"

#include "ops/knn_cuda.cuh"

namespace lf {

bool knn_cuda_emulated(int64_t* indices, float* sq_distances, const float* X, int64_t n, int64_t d,
                       int64_t k, int64_t tile_rows, int config, const emu::Schedule& schedule) {
  emu::knn_cuda_check(indices, sq_distances, X, n, d, k, tile_rows, config);
  const int64_t mq = emu::knn_cuda_tile_rows(n, tile_rows);
  // Scratch starts poisoned (NaN floats, all-ones keys): a value read before the pipeline wrote
  // it shows up in the results.
  std::vector<float> tile(static_cast<size_t>(mq * n), std::numeric_limits<float>::quiet_NaN());
  std::vector<float> norms(static_cast<size_t>(n), std::numeric_limits<float>::quiet_NaN());
  std::vector<unsigned long long> keys(static_cast<size_t>(mq * k), ~0ull);
  int32_t flag = -7;  // cleared by the pipeline's first kernel
  auto launch = [&](emu::dim3 grid, emu::dim3 block, auto kernel, auto... args) {
    emu::launch(schedule, grid, block, kernel, args...);
  };
  auto gemm = [&](float* C, int64_t ldc, const float* A, int64_t lda, const float* B, int64_t ldb,
                  int64_t M, int64_t N, int64_t K) {
    gemm_forward_cuda_emulated(C, ldc, A, lda, false, B, ldb, true, M, N, K, -2.0f, 0.0f, nullptr,
                               Activation::none, config, schedule);
  };
  emu::knn_cuda_run(indices, sq_distances, &flag, X, n, d, k, mq, config, tile.data(), norms.data(),
                    keys.data(), launch, gemm);
  return flag != 0;
}

}  // namespace lf
