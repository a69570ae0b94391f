// CUDA exact kNN launcher and its host-array entry (contract in ops/knn.h). The kernels and the
// pipeline live in ops/knn_cuda.cuh, shared with the CPU emulator (emu/knn_cuda_emu.cpp); the
// distances go through the device GEMM (lf::gemm_forward_cuda_config, ops/gemm_cuda.cu).
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/check.h"
#include "core/cuda_utils.cuh"
#include "ops/gemm.h"
#include "ops/knn.h"
#include "ops/knn_cuda.cuh"

namespace lf {

namespace {

using cuda::cuda_check;
using cuda::StreamArray;
using cuda::StreamLaunch;
template <class T>
using Buffer = cuda::DeviceArray<T>;

void run(int64_t* indices, float* sq_distances, int32_t* flag, const float* X, int64_t n, int64_t d,
         int64_t k, int64_t tile_rows, int config, void* stream) {
  gpu::knn_cuda_check(indices, sq_distances, X, n, d, k, tile_rows, config);
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int64_t mq = gpu::knn_cuda_tile_rows(n, tile_rows);
  StreamArray<float> tile(static_cast<size_t>(mq) * static_cast<size_t>(n), s);
  StreamArray<float> norms(static_cast<size_t>(n), s);
  StreamArray<unsigned long long> keys(static_cast<size_t>(mq) * static_cast<size_t>(k), s);
  StreamLaunch l{s};
  auto gemm = [&](float* C, int64_t ldc, const float* A, int64_t lda, const float* B, int64_t ldb,
                  int64_t M, int64_t N, int64_t K) {
    gemm_forward_cuda_config(C, ldc, A, lda, false, B, ldb, true, M, N, K, -2.0f, 0.0f, nullptr,
                             Activation::none, config, stream);
  };
  gpu::knn_cuda_run(indices, sq_distances, flag, X, n, d, k, mq, config, tile.get(), norms.get(),
                    keys.get(), l, gemm);
  l.check("knn_cuda");
}

}  // namespace

void knn_cuda(int64_t* indices, float* sq_distances, int32_t* error_flag, const float* X, int64_t n,
              int64_t d, int64_t k, void* stream) {
  run(indices, sq_distances, error_flag, X, n, d, k, 0, 0, stream);
}

void knn_cuda_from_host(int64_t* indices, float* sq_distances, const float* X, int64_t n, int64_t d,
                        int64_t k, int64_t tile_rows, int config) {
  gpu::knn_cuda_check(indices, sq_distances, X, n, d, k, tile_rows, config);
  const size_t nx = static_cast<size_t>(n) * static_cast<size_t>(d);
  const size_t nk = static_cast<size_t>(n) * static_cast<size_t>(k);
  Buffer<float> dX(nx), dd(nk);
  Buffer<int64_t> di(nk);
  Buffer<int32_t> dflag(1);
  cuda_check(cudaMemcpy(dX.get(), X, nx * sizeof(float), cudaMemcpyHostToDevice),
             "cudaMemcpy (host to device)");
  run(di.get(), dd.get(), dflag.get(), dX.get(), n, d, k, tile_rows, config, nullptr);
  cuda_check(cudaStreamSynchronize(nullptr), "knn kernel execution");
  int32_t flag = 0;
  cuda_check(cudaMemcpy(&flag, dflag.get(), sizeof flag, cudaMemcpyDeviceToHost),
             "cudaMemcpy (device to host)");
  LF_CHECK(flag == 0,
           "knn: X contains NaN or Inf, or a squared norm exceeds FLT_MAX/4 (float32 distances "
           "would overflow; rescale X)");
  cuda_check(cudaMemcpy(indices, di.get(), nk * sizeof(int64_t), cudaMemcpyDeviceToHost),
             "cudaMemcpy (device to host)");
  cuda_check(cudaMemcpy(sq_distances, dd.get(), nk * sizeof(float), cudaMemcpyDeviceToHost),
             "cudaMemcpy (device to host)");
}

}  // namespace lf
