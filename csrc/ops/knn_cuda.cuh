// Device side of the CUDA exact kNN (contract in ops/knn.h): the norm and selection kernels and
// the whole pipeline (device GEMM tiles, norms, per-row selection), shared by the launcher
// (ops/knn_cuda.cu, lf::gpu, with lf::gemm_forward_cuda_config as the GEMM) and the emulator
// (emu/knn_cuda_emu.cpp, lf::emu, with the emulated GEMM kernel). Compiled twice, so it uses only
// the emulated subset of emu/cuda_emu.h (the radix select: ops/topk_cuda_select.cuh).
#pragma once

#include <cstdint>

#include "core/check.h"
#include "core/cuda_subset.h"  // LF_KERNEL_NS, LF_SHARED
#include "ops/knn.h"
#include "ops/topk_cuda_select.cuh"  // block_select_smallest, topk_float_bits

namespace lf::LF_KERNEL_NS {

// Host-side checks shared by the launcher and the emulator (ops/knn.h rules).
inline void knn_cuda_check(const int64_t* indices, const float* sq_distances, const float* X,
                           int64_t n, int64_t d, int64_t k, int64_t tile_rows, int config) {
  LF_CHECK(n >= 0, "knn: negative number of points n=", n);
  LF_CHECK(d >= 1, "knn: X must have at least one feature (d >= 1), got d=", d);
  LF_CHECK(k >= 1 && k <= n - 1, "knn: k must satisfy 1 <= k <= n - 1 = ", n - 1, ", got k=", k);
  LF_CHECK(n <= INT32_MAX, "knn_cuda: n must fit in int32, got n=", n);
  LF_CHECK(d <= INT32_MAX / 2, "knn_cuda: d is too large, got d=", d);
  LF_CHECK(tile_rows >= 0, "knn_cuda: tile_rows must be >= 0 (0: default), got ", tile_rows);
  LF_CHECK(config >= 0 && config < ::lf::kKnnCudaConfigs, "knn_cuda: config must be in [0, ",
           ::lf::kKnnCudaConfigs, "), got ", config);
  LF_CHECK(indices != nullptr && sq_distances != nullptr && X != nullptr, "knn_cuda: null pointer");
}

// Query rows per tile: `requested` (clamped to n) or the default of ops/knn.h.
inline int64_t knn_cuda_tile_rows(int64_t n, int64_t requested) {
  int64_t t = requested > 0 ? requested : ::lf::kKnnCudaTileFloats / (n > 0 ? n : 1);
  if (t < 1) t = 1;
  return t < n ? t : n;
}

// *flag = 0 (one thread): the error flag starts clear on the stream, before the kernels that set
// it.
__global__ void knn_clear_flag_kernel(int32_t* flag) {
  if (threadIdx.x == 0 && blockIdx.x == 0) *flag = 0;
}

// s[r] = -g_rr / 2 from the mq x mq GEMM tile g (alpha = -2); a squared norm that is not
// <= kKnnMaxSqNorm (NaN, inf, or too large) sets *flag.
__global__ void knn_norms_kernel(float* s, int32_t* flag, const float* g, int64_t mq) {
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t r = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; r < mq; r += step) {
    const float v = -0.5f * g[r * mq + r];
    s[r] = v;
    if (!(v <= ::lf::kKnnMaxSqNorm) && flag != nullptr) atomicExch(flag, 1);
  }
}

// One block per query row r of the tile (grid-stride), i = q0 + r: candidates j != i with
// d = max(0, (s_i + s_j) + g[r, j]) (g: mq x n, row-major), key (bits of d) << 32 | j (d >= +0,
// whose bits order like the values; NaN becomes 0 as on the CPU). The k smallest keys are
// selected exactly, staged in keys[r * k ...] in any order (a shared counter), then each is
// written at its rank among them: indices / dist point at row q0 of the outputs.
__global__ void knn_select_kernel(int64_t* indices, float* dist, unsigned long long* keys,
                                  const float* g, const float* s, int64_t q0, int64_t mq, int64_t n,
                                  int64_t k) {
  LF_SHARED(unsigned, hist, [256]);
  LF_SHARED(unsigned long long, st, [3]);
  LF_SHARED(unsigned, count, [1]);
  const int t = static_cast<int>(threadIdx.x), T = static_cast<int>(blockDim.x);
  for (int64_t r = blockIdx.x; r < mq; r += gridDim.x) {
    const int64_t i = q0 + r;
    const float si = s[i];
    const float* gr = g + r * n;
    auto key_of = [=](int64_t j, unsigned long long& key) {
      if (j == i) return false;
      float v = (si + s[j]) + gr[j];
      v = v > 0.0f ? v : 0.0f;
      key = (static_cast<unsigned long long>(topk_float_bits(v)) << 32) |
            static_cast<unsigned long long>(j);
      return true;
    };
    // k == n - 1: every candidate is kept (keeps() is then always true).
    const RadixSelection sel =
        k == n - 1 ? RadixSelection{~0ull, 0}
                   : block_select_smallest(hist, st, n, static_cast<unsigned long long>(k), key_of);
    if (t == 0) count[0] = 0u;
    __syncthreads();  // the counter is clear
    unsigned long long* kr = keys + r * k;
    for (int64_t j = t; j < n; j += T) {
      unsigned long long key;
      if (key_of(j, key) && sel.keeps(key)) kr[atomicAdd(&count[0], 1u)] = key;
    }
    __syncthreads();  // the k keys are staged
    int64_t* ir = indices + r * k;
    float* dr = dist + r * k;
    for (int64_t p = t; p < k; p += T) {
      const unsigned long long key = kr[p];
      int64_t rank = 0;
      for (int64_t q = 0; q < k; ++q) rank += kr[q] < key ? 1 : 0;
      ir[rank] = static_cast<int64_t>(key & 0xffffffffull);
      dr[rank] = topk_bits_float(static_cast<unsigned>(key >> 32));
    }
    __syncthreads();  // everyone is done with the counter before the next row clears it
  }
}

struct KnnLaunch {
  dim3 grid, block;
};

// Norms: one thread per row of the tile; selection: one block per row. 256 threads (config 0,
// grids capped at 2^20 blocks) or 32 threads with at most 3 blocks (config 1).
inline KnnLaunch knn_cuda_geometry(bool select, int64_t mq, int config) {
  const int64_t threads = config == 0 ? 256 : 32, cap = config == 0 ? int64_t{1} << 20 : 3;
  int64_t blocks = select ? mq : (mq + threads - 1) / threads;
  if (blocks > cap) blocks = cap;
  if (blocks < 1) blocks = 1;
  return {dim3(static_cast<unsigned>(blocks)), dim3(static_cast<unsigned>(threads))};
}

// The whole pipeline of ops/knn.h on caller-provided scratch: tile (tile_rows x n floats), s (n
// floats), keys (tile_rows x k). launch(grid, block, kernel, args...) enqueues a kernel;
// gemm(C, ldc, A, lda, B, ldb, M, N, K) enqueues C = -2 A B^T (A: M x K, B: N x K, row-major)
// with the device GEMM, in launch order.
template <class Launch, class Gemm>
void knn_cuda_run(int64_t* indices, float* sq_distances, int32_t* flag, const float* X, int64_t n,
                  int64_t d, int64_t k, int64_t tile_rows, int config, float* tile, float* s,
                  unsigned long long* keys, Launch&& launch, Gemm&& gemm) {
  if (flag != nullptr) launch(dim3(1), dim3(1), &knn_clear_flag_kernel, flag);
  for (int64_t q0 = 0; q0 < n; q0 += tile_rows) {
    const int64_t mq = n - q0 < tile_rows ? n - q0 : tile_rows;
    gemm(tile, mq, X + q0 * d, d, X + q0 * d, d, mq, mq, d);
    const KnnLaunch g = knn_cuda_geometry(false, mq, config);
    launch(g.grid, g.block, &knn_norms_kernel, s + q0, flag, static_cast<const float*>(tile), mq);
  }
  for (int64_t q0 = 0; q0 < n; q0 += tile_rows) {
    const int64_t mq = n - q0 < tile_rows ? n - q0 : tile_rows;
    gemm(tile, n, X + q0 * d, d, X, d, mq, n, d);
    const KnnLaunch g = knn_cuda_geometry(true, mq, config);
    launch(g.grid, g.block, &knn_select_kernel, indices + q0 * k, sq_distances + q0 * k, keys,
           static_cast<const float*>(tile), static_cast<const float*>(s), q0, mq, n, k);
  }
}

}  // namespace lf::LF_KERNEL_NS
