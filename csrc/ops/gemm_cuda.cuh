// Device side of lf::gemm_forward_cuda (contract in ops/gemm.h): a shared-memory tiled SGEMM with
// register blocking and a fused alpha/beta/bias/activation epilogue, plus the launch geometry.
//
// This source is compiled twice: by nvcc (ops/gemm_cuda.cu, symbols in lf::gpu) and by the host
// compiler against emu/cuda_emu.h (emu/gemm_cuda_emu.cpp, symbols in lf::emu), so tests on
// GPU-less machines run this exact code. It therefore uses only the subset listed in cuda_emu.h.
//
// Algorithm (one block computes one BM x BN tile of C):
//   for each K-slab of width BK:
//     all threads cooperatively copy the BM x BK slab of op(A) and the BK x BN slab of op(B) into
//     shared memory (zero-filled outside the matrices, so the inner loop needs no bounds checks),
//     __syncthreads(), then every thread accumulates its TM x TN micro-tile in registers from the
//     two slabs, __syncthreads() again before the slabs are overwritten;
//   epilogue: C = act(alpha * acc + beta * C + bias), with bounds checks, C read only if beta != 0.
// Each output element sums over k in increasing order (a fixed order, independent of the
// configuration and of the thread count).
#pragma once

#include <cstdint>

#include "core/check.h"
#include "core/cuda_subset.h"  // LF_KERNEL_NS, LF_SHARED, LF_UNROLL
#include "ops/gemm.h"

namespace lf::LF_KERNEL_NS {

// One launch configuration: BM x BN tile of C per block, K-slabs of width BK, and TM x TN outputs
// per thread. The block is TX x TY = (BN/TN) x (BM/TM) threads (x along N, y along M). A thread's
// outputs are strided, rows ty + i*TY and columns tx + j*TX, rather than contiguous: neighbouring
// threads then touch neighbouring columns, which coalesces the global reads/writes of C and makes
// the shared-memory reads of the B slab conflict-free (the A slab reads are warp broadcasts).
template <int BM_, int BN_, int BK_, int TM_, int TN_>
struct GemmTile {
  static constexpr int BM = BM_, BN = BN_, BK = BK_, TM = TM_, TN = TN_;
  static constexpr int TX = BN / TN, TY = BM / TM, THREADS = TX * TY;
  static_assert(BM % TM == 0 && BN % TN == 0, "a tile must split evenly into micro-tiles");
  static_assert(THREADS <= 1024, "at most 1024 threads per block");
  static_assert(sizeof(float) * BK * (BM + BN) <= 48 * 1024, "static shared memory is 48 KiB");
};

// Config 0, the default of gemm_forward_cuda: 64x64 tile, 16x16 threads of 4x4 outputs each.
using GemmTileLarge = GemmTile<64, 64, 8, 4, 4>;
// Config 1: 32x48 tile, 16x8 threads of 4x3 outputs each, BK=4. Deliberately asymmetric
// (BM != BN, TM != TN, TX != TY, both micro-tile sides > 1, B slab of 1.5 elements per thread), so
// that a swapped index, or an assumption that one size divides another, fails the tests.
using GemmTileSmall = GemmTile<32, 48, 4, 4, 3>;
inline constexpr int kGemmCudaNumConfigs = ::lf::kGemmCudaConfigs;

// Calls f(Tile{}) with the tile of launch configuration `config`. The CUDA launcher and the
// emulator both dispatch through here, so they run exactly the same configurations.
template <class F>
void gemm_cuda_dispatch(int config, F&& f) {
  switch (config) {
    case 0: f(GemmTileLarge{}); return;
    case 1: f(GemmTileSmall{}); return;
    default:
      LF_CHECK(false, "gemm_cuda: config must be in [0, ", kGemmCudaNumConfigs, "), got ", config);
  }
}

struct GemmLaunch {
  dim3 grid, block;
};

// Grid: blockIdx.x walks the N tiles (gridDim.x may be up to 2^31-1), blockIdx.y the M tiles
// (at most 65535, i.e. M up to 65535*BM). Requires M, N > 0.
template <class Tile>
GemmLaunch gemm_cuda_geometry(int64_t M, int64_t N) {
  const int64_t grid_x = (N + Tile::BN - 1) / Tile::BN, grid_y = (M + Tile::BM - 1) / Tile::BM;
  LF_CHECK(grid_x <= 2147483647 && grid_y <= 65535, "gemm_cuda: C of ", M, "x", N,
           " is too large for one launch (at most ", 65535 * int64_t{Tile::BM}, " rows)");
  return {dim3(static_cast<unsigned>(grid_x), static_cast<unsigned>(grid_y)),
          dim3(Tile::TX, Tile::TY)};
}

// Host-side argument checks shared by the real launcher and the emulator (ops/gemm.h rules).
inline void gemm_cuda_check_args(const float* C, int64_t ldc, const float* A, int64_t lda,
                                 bool trans_a, const float* B, int64_t ldb, bool trans_b, int64_t M,
                                 int64_t N, int64_t K, float alpha, Activation act, int config) {
  LF_CHECK(M >= 0 && N >= 0 && K >= 0, "gemm_cuda: negative size M=", M, " N=", N, " K=", K);
  LF_CHECK(config >= 0 && config < kGemmCudaNumConfigs, "gemm_cuda: config must be in [0, ",
           kGemmCudaNumConfigs, "), got ", config);
  const int a = static_cast<int>(act);
  LF_CHECK(a >= 0 && a <= 3, "gemm_cuda: unknown activation ", a);
  LF_CHECK(ldc >= N, "gemm_cuda: ldc=", ldc, " < N=", N);
  LF_CHECK(lda >= (trans_a ? M : K), "gemm_cuda: lda=", lda, " < ",
           trans_a ? "M=" : "K=", trans_a ? M : K);
  LF_CHECK(ldb >= (trans_b ? K : N), "gemm_cuda: ldb=", ldb, " < ",
           trans_b ? "K=" : "N=", trans_b ? K : N);
  if (M == 0 || N == 0) return;
  LF_CHECK(C != nullptr, "gemm_cuda: C is null");
  if (K > 0 && alpha != 0.0f) LF_CHECK(A != nullptr && B != nullptr, "gemm_cuda: A or B is null");
}

__device__ __forceinline__ float gemm_activate(float v, int act) {
  switch (act) {
    case 1: return 1.0f / (1.0f + expf(-v));  // expf(-v) = inf for v < -88 gives exactly 0
    case 2: return tanhf(v);
    case 3: return v < 0.0f ? 0.0f : v;  // not fmaxf(v, 0): a NaN must propagate, as in numpy
    default: return v;
  }
}

// C[M,N] = act(alpha * op(A) @ op(B) + beta * C + bias). Launch with gemm_cuda_geometry<Tile>.
// With alpha == 0 the K loop is skipped entirely (A and B are not read), as ops/gemm.h requires;
// alpha is uniform over the block, so every thread skips the same __syncthreads() calls.
template <class Tile>
__global__ void gemm_forward_kernel(float* __restrict__ C, int64_t ldc, const float* __restrict__ A,
                                    int64_t lda, bool trans_a, const float* __restrict__ B,
                                    int64_t ldb, bool trans_b, int64_t M, int64_t N, int64_t K,
                                    float alpha, float beta, const float* __restrict__ bias,
                                    int act) {
  constexpr int BM = Tile::BM, BN = Tile::BN, BK = Tile::BK, TM = Tile::TM, TN = Tile::TN;
  constexpr int TX = Tile::TX, TY = Tile::TY, THREADS = Tile::THREADS;
  // Slabs stored k-major, so the inner loop reads a row of each.
  LF_SHARED(float, As, [BK][BM]);  // As[k][m] = op(A)[m0 + m, k0 + k]
  LF_SHARED(float, Bs, [BK][BN]);  // Bs[k][n] = op(B)[k0 + k, n0 + n]

  const int tx = static_cast<int>(threadIdx.x), ty = static_cast<int>(threadIdx.y);
  const int tid = ty * TX + tx;
  const int64_t m0 = int64_t{blockIdx.y} * BM, n0 = int64_t{blockIdx.x} * BN;

  float acc[TM][TN];
  LF_UNROLL for (int i = 0; i < TM; ++i) {
    LF_UNROLL for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;
  }

  const int64_t num_slabs = alpha == 0.0f ? 0 : (K + BK - 1) / BK;
  for (int64_t s = 0; s < num_slabs; ++s) {
    const int64_t k0 = s * BK;
    // Consecutive threads read consecutive addresses of whichever dimension is contiguous in
    // memory (k for A, m for A^T; n for B, k for B^T): coalesced global loads.
    for (int e = tid; e < BM * BK; e += THREADS) {
      const int m = trans_a ? e % BM : e / BK, k = trans_a ? e / BM : e % BK;
      const int64_t gm = m0 + m, gk = k0 + k;
      float v = 0.0f;
      if (gm < M && gk < K) v = trans_a ? A[gk * lda + gm] : A[gm * lda + gk];
      As[k][m] = v;
    }
    for (int e = tid; e < BK * BN; e += THREADS) {
      const int n = trans_b ? e / BK : e % BN, k = trans_b ? e % BK : e / BN;
      const int64_t gn = n0 + n, gk = k0 + k;
      float v = 0.0f;
      if (gn < N && gk < K) v = trans_b ? B[gn * ldb + gk] : B[gk * ldb + gn];
      Bs[k][n] = v;
    }
    __syncthreads();  // slabs complete before anyone reads them
    LF_UNROLL for (int k = 0; k < BK; ++k) {
      float a[TM], b[TN];
      LF_UNROLL for (int i = 0; i < TM; ++i) a[i] = As[k][ty + i * TY];
      LF_UNROLL for (int j = 0; j < TN; ++j) b[j] = Bs[k][tx + j * TX];
      LF_UNROLL for (int i = 0; i < TM; ++i) {
        LF_UNROLL for (int j = 0; j < TN; ++j) acc[i][j] += a[i] * b[j];
      }
    }
    __syncthreads();  // everyone done reading before the next slab overwrites them
  }

  LF_UNROLL for (int i = 0; i < TM; ++i) {
    const int64_t gm = m0 + ty + i * TY;
    if (gm >= M) break;
    LF_UNROLL for (int j = 0; j < TN; ++j) {
      const int64_t gn = n0 + tx + j * TX;
      if (gn >= N) break;
      float v = alpha * acc[i][j];
      if (beta != 0.0f) v += beta * C[gm * ldc + gn];
      if (bias) v += bias[gn];
      C[gm * ldc + gn] = gemm_activate(v, act);
    }
  }
}

}  // namespace lf::LF_KERNEL_NS
