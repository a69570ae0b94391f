// Exact k nearest neighbours (squared Euclidean) of every row of a point set among the other
// rows (CPU). The t-SNE symmetrisation of the affinities built on them is ops/tsne_symmetrize.h.
//
// knn_cpu
// -------
// X is a row-major n x d float32 matrix (C-contiguous). For every row i, the k rows j != i with
// the smallest squared distance are returned in ascending order of (distance, index): ties in
// distance go to the smaller index, so the result is a pure function of X (and of the active
// SIMD path, see below), bitwise independent of the thread count.
//
// Distances are computed as float32 in the GEMM identity
//     d(i, j) = max(0, (s_i + s_j) + g_ij),   g_ij = -2 x_i . x_j,   s_i = -g_ii / 2,
// where g comes from single-threaded lf::gemm_forward_cpu calls (alpha = -2, A = query rows of
// X, B = a column range of X^T, which is formed once so the GEMM reads it in place) on tiles of
// query rows x reference rows. The GEMM reduces over K in a fixed order per output element,
// whatever the tile shape or position (packing or reading B in place only moves data), and
// x_i . x_j and x_j . x_i are the same products summed in the same order, so:
//   * the computed d(i, j) does not depend on the tiling, and d(i, j) == d(j, i) bitwise;
//   * s_i is the GEMM's own x_i . x_i, so an exact duplicate row gives d == 0 exactly.
// The computed value can differ from the exact squared distance by rounding: the absolute error
// is a few float32 ulps of s_i + s_j (the dot product and the norms are rounded at that
// magnitude before the cancellation), not of d itself, so near neighbours of points far from
// the origin lose the most relative accuracy (centre X, as PCA output is, to keep it small).
// The order and the tie-break rule apply to the computed values: two candidates whose exact
// distances differ by less than that error may come out in either order compared with an
// exact computation. The values depend on the active ISA (lf.set_isa / LATENTFORGE_ISA), whose
// GEMM micro-kernels round differently (FMA or not); the same X gives the same bits on the same
// path.
//
// Algorithm: OpenMP over blocks of kKnnQueryBlock query rows (a thread owns its rows; nothing is
// shared but the read-only X, X^T and norms). For each block, the reference rows are swept in
// increasing tiles of kKnnRefBlock rows; each tile's -2 x.y values are computed by one
// single-threaded GEMM call into an L2-resident buffer, and each row is scanned once (SIMD:
// AVX-512 / AVX2 / scalar after lf::active_isa(); the same float operations on every path)
// against a bounded max-heap of the k best (distance, index) pairs: once the heap is full, a
// candidate is compared with the current k-th distance and almost always rejected.
// Extra memory: X^T (n d floats), the outputs, and per thread one tile and k keys per query row.
//
// Validation (std::invalid_argument -> ValueError), before anything is written: n >= 0, d >= 1,
// 1 <= k <= n - 1, n <= 2^32 (indices are packed in 32 bits inside the heap keys), X finite,
// and every squared norm s_i <= kKnnMaxSqNorm (FLT_MAX / 4), so that s_i + s_j - 2 x.y cannot
// overflow float32 (rescale X if this fires).
//
// knn_naive
// ---------
// The test oracle: exact distances sum_t (x_it - x_jt)^2 accumulated in double, O(n^2 d), same
// ordering rule (ties by smaller index) on the double values. Single-threaded. Same validation.
#pragma once

#include <cfloat>
#include <cstdint>

namespace lf {

// Query rows per OpenMP work item, and reference rows per GEMM tile. The distance tile
// (98 x 1024 float32 = 392 KiB) plus the reference tile of X^T (d x 1024 floats, 200 KiB at
// d = 50) stay in a 1 MiB L2. 98 = 7 x 14 AVX-512 micro-tile rows: the most for which the GEMM
// reads B in place instead of packing it (gemm_cpu.cpp).
constexpr int64_t kKnnQueryBlock = 98;
constexpr int64_t kKnnRefBlock = 1024;
constexpr float kKnnMaxSqNorm = FLT_MAX / 4.0f;

// indices: n x k (int64), sq_distances: n x k (float32), row-major. X: n x d, row-major,
// contiguous. Outputs must not overlap X.
void knn_cpu(int64_t* indices, float* sq_distances, const float* X, int64_t n, int64_t d, int64_t k,
             int num_threads);

// Oracle: same outputs, distances in double (exact up to the double accumulation).
void knn_naive(int64_t* indices, double* sq_distances, const float* X, int64_t n, int64_t d,
               int64_t k);

// ---- CUDA sibling (ops/knn_cuda.cu, kernels in ops/knn_cuda.cuh): same outputs and ordering rule
// with DEVICE pointers, enqueued on `stream` (a cudaStream_t as void*), asynchronous.
// Pipeline, on tiles of tile_rows query rows (a tile of tile_rows x n float32 distances):
//   1. norms: for each tile, the device GEMM (lf::gemm_forward_cuda, alpha = -2, B = X with
//      trans_b) of the tile's rows against themselves; s_i = -g_ii / 2 from its diagonal, so s_i
//      is bitwise the x_i . x_i of the distance tiles (the device GEMM sums over K in a fixed
//      order whatever the tile shape or position): an exact duplicate row is at distance 0;
//   2. distances: for each tile, g = -2 X_tile X^T by the device GEMM, then one block per query
//      row computes d(i, j) = max(0, (s_i + s_j) + g_ij) (the CPU's formula, two adds: no FMA)
//      and selects the k smallest keys (bits of d) << 32 | j, j != i, with the exact block radix
//      select of ops/topk_cuda.cuh, stages them and writes them ranked (each kept key counts the
//      kept keys below it: O(k^2 / threads) per row, meant for k << n as in t-SNE).
// The GEMM's products x_it x_jt are the same for (i, j) and (j, i), so d(i, j) == d(j, i) bitwise
// as on the CPU; the values differ from knn_cpu's by rounding (FMA contraction and the CPU
// micro-kernels' blocking), within the error bound documented above for knn_cpu.
// Errors: argument errors (n, d, k, null pointers, n > INT32_MAX) throw std::invalid_argument
// before anything is enqueued. Non-finite X and squared norms above kKnnMaxSqNorm cannot throw on
// the device: they set *error_flag (one int32 of device memory, cleared by this call on the stream
// first; may be null), and the outputs are then unspecified (but written, and indices stay in
// [0, n)). The host-array entry below throws std::invalid_argument when the flag is set.
// Scratch (stream-ordered cudaMallocAsync / cudaFreeAsync): tile_rows x n floats, n floats and
// tile_rows x k 64-bit keys; tile_rows = min(n, max(1, kKnnCudaTileFloats / n)).
inline constexpr int64_t kKnnCudaTileFloats = int64_t{1} << 25;  // 128 MiB of distances per tile
void knn_cuda(int64_t* indices, float* sq_distances, int32_t* error_flag, const float* X, int64_t n,
              int64_t d, int64_t k, void* stream);

// Launch configurations of the kernels (block size of the selection and the device GEMM's config):
// knn_cuda uses 0; the tests run all.
inline constexpr int kKnnCudaConfigs = 2;
// knn_cuda on HOST arrays (copies in and out, synchronous, current device) with tiles of
// `tile_rows` query rows (0: the default above) and launch configuration `config`. Throws
// std::invalid_argument when the device reports non-finite X or an overflowing squared norm.
void knn_cuda_from_host(int64_t* indices, float* sq_distances, const float* X, int64_t n, int64_t d,
                        int64_t k, int64_t tile_rows, int config);

}  // namespace lf
