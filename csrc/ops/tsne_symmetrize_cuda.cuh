// Device side of the CUDA t-SNE symmetrisation (contract in ops/tsne_symmetrize.h, CUDA section),
// plus the host-side pieces shared by the launcher (ops/tsne_symmetrize_cuda.cu, lf::gpu) and the
// emulator (emu/tsne_symmetrize_cuda_emu.cpp, lf::emu): the argument checks, the error messages,
// the launch geometry and the dispatch. The kernels use only the emulated subset of
// emu/cuda_emu.h: integer atomicAdd / atomicMin, LF_SHARED and __syncthreads (the single-block
// scan), isfinite, IEEE double `+` and `/`. No float atomics: the only atomics count integers
// (in-degrees, list cursors, the first bad row), and the one place where their order shows (the
// order of the entries scattered into a transposed list) is sorted away before it is used.
#pragma once

#include <math.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "core/check.h"
#include "core/cuda_subset.h"  // LF_KERNEL_NS, LF_SHARED
#include "ops/tsne_symmetrize.h"

namespace lf {

// Host-side checks of the sizes (the CPU kernel's messages where it has them).
inline void tsne_symmetrize_check_params(int64_t n, int64_t k, int config) {
  LF_CHECK(n >= 0 && k >= 0, "tsne_symmetrize: negative shape (", n, ", ", k, ")");
  LF_CHECK(n == 0 || k <= INT64_MAX / 2 / n, "tsne_symmetrize: 2 * n * k overflows int64");
  LF_CHECK(n < (int64_t{1} << 30), "tsne_symmetrize_cuda: n = ", n,
           " is too large (the device kernels count in int32: n < 2^30)");
  LF_CHECK(config >= 0 && config < kTsneSymmetrizeCudaConfigs,
           "tsne_symmetrize_cuda: config must be in [0, ", kTsneSymmetrizeCudaConfigs, "), got ",
           config);
}

// The CPU kernel's message for row i of the host inputs, which the device flagged as the first
// invalid row: the first out-of-range, self or non-finite entry in t order, else the smallest
// repeated neighbour (ops/tsne_symmetrize_cpu.cpp checks in the same order).
[[noreturn]] inline void tsne_symmetrize_throw_row_error(const int64_t* nbr, const float* P,
                                                         int64_t n, int64_t k, int64_t i) {
  for (int64_t t = 0; t < k; ++t) {
    const int64_t j = nbr[i * k + t];
    LF_CHECK(j >= 0 && j < n, "tsne_symmetrize: indices[", i, ", ", t, "] = ", j,
             " is out of range [0, ", n, ")");
    LF_CHECK(j != i, "tsne_symmetrize: indices[", i, ", ", t, "] = ", i,
             " is the row itself (self-neighbours are not allowed)");
    LF_CHECK(std::isfinite(P[i * k + t]), "tsne_symmetrize: P_cond[", i, ", ", t,
             "] is NaN or Inf");
  }
  std::vector<int64_t> row(nbr + i * k, nbr + (i + 1) * k);
  std::sort(row.begin(), row.end());
  for (size_t t = 1; t < row.size(); ++t) {
    LF_CHECK(row[t] != row[t - 1], "tsne_symmetrize: row ", i, " of indices lists neighbour ",
             row[t], " more than once");
  }
  throw std::runtime_error(detail::concat("tsne_symmetrize_cuda: the device flagged row ", i,
                                          " as invalid but the host finds nothing wrong with it"));
}

}  // namespace lf

namespace lf::LF_KERNEL_NS {

inline constexpr int32_t kTsneSymNoError = 2147483647;  // "no bad row yet" (atomicMin start)
inline constexpr int kTsneSymScanMaxThreads = 256;      // the scan kernel's shared array

struct TsneSymGeometry {
  int threads;       // per block, per-row kernels
  int64_t blocks;    // at most this many blocks (grid-stride beyond)
  int scan_threads;  // the single-block scan (<= kTsneSymScanMaxThreads)
};

// config 0: the device's; config 1: blocks of 8 threads and at most 2 blocks (several grid-stride
// rounds and ragged blocks on small inputs), and an 8-thread scan (several rows per chunk).
inline TsneSymGeometry tsne_symmetrize_geometry(int config) {
  if (config == 0) return {256, int64_t{1} << 20, kTsneSymScanMaxThreads};
  return {8, 2, 8};
}

// Device scratch: cnt (n int32: in-degrees, then list cursors, then row lengths), tptr (n + 1
// int64: start of each transposed list), fidx (n k int64: flat indices i k + t of row i sorted by
// column), tlist (n k int64: the transposed lists, flat indices s k + t with nbr[s, t] == i).
struct TsneSymScratch {
  int32_t* cnt;
  int64_t* tptr;
  int64_t* fidx;
  int64_t* tlist;
};

// 0. cnt = 0, *error = "no bad row".
__global__ void tsne_sym_init_kernel(int32_t* __restrict__ cnt, int32_t* __restrict__ error,
                                     int64_t n) {
  const int64_t first = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  if (first == 0) *error = kTsneSymNoError;
  for (int64_t i = first; i < n; i += step) cnt[i] = 0;
}

// 1. One thread per row: validate, sort the forward entries by column, count in-degrees.
__global__ void tsne_sym_rows_kernel(int64_t* __restrict__ fidx, int32_t* __restrict__ cnt,
                                     int32_t* __restrict__ error, const int64_t* __restrict__ nbr,
                                     const float* __restrict__ P, int64_t n, int64_t k) {
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += step) {
    const int64_t* nr = nbr + i * k;
    int64_t* f = fidx + i * k;
    bool bad = false;
    for (int64_t t = 0; t < k && !bad; ++t) {
      const int64_t j = nr[t];
      bad = j < 0 || j >= n || j == i || !isfinite(P[i * k + t]);
    }
    for (int64_t t = 0; t < k && !bad; ++t) {  // insertion sort by column; finds repeats
      const int64_t c = nr[t];
      int64_t u = t;
      while (u > 0 && nbr[f[u - 1]] > c) {
        f[u] = f[u - 1];
        --u;
      }
      f[u] = i * k + t;
      bad = u > 0 && nbr[f[u - 1]] == c;
    }
    if (bad) {
      atomicMin(error, static_cast<int32_t>(i));
      continue;
    }
    for (int64_t t = 0; t < k; ++t) atomicAdd(&cnt[nr[t]], 1);
  }
}

// 2 and 5. Single block: out[r] = sum of cnt[0..r) for r <= n (all zeros when a row is bad),
// then cnt = 0. Each thread sums a contiguous chunk; thread 0 scans the chunk sums serially. In
// the final pass thread 0 also turns "no bad row" into -1 (after every thread has read *error).
__global__ void tsne_sym_scan_kernel(int64_t* __restrict__ out, int32_t* __restrict__ cnt,
                                     int32_t* __restrict__ error, int64_t n, int final_pass) {
  LF_SHARED(int64_t, part, [kTsneSymScanMaxThreads]);
  const int64_t nt = blockDim.x, tid = threadIdx.x;
  const bool bad = *error != kTsneSymNoError;
  const int64_t lo = n * tid / nt, hi = n * (tid + 1) / nt;
  int64_t s = 0;
  if (!bad) {
    for (int64_t r = lo; r < hi; ++r) s += cnt[r];
  }
  part[tid] = s;
  __syncthreads();
  if (tid == 0) {
    int64_t run = 0;
    for (int64_t u = 0; u < nt; ++u) {
      const int64_t v = part[u];
      part[u] = run;
      run += v;
    }
    out[n] = run;
    if (final_pass && !bad) *error = -1;
  }
  __syncthreads();
  int64_t run = part[tid];
  for (int64_t r = lo; r < hi; ++r) {
    const int64_t c = bad ? 0 : cnt[r];
    out[r] = run;
    run += c;
    cnt[r] = 0;
  }
}

// 3. One thread per source row s: scatter its entries into the transposed lists (any order).
__global__ void tsne_sym_scatter_kernel(int64_t* __restrict__ tlist, int32_t* __restrict__ cnt,
                                        const int32_t* __restrict__ error,
                                        const int64_t* __restrict__ tptr,
                                        const int64_t* __restrict__ nbr, int64_t n, int64_t k) {
  if (*error != kTsneSymNoError) return;
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t s = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; s < n; s += step) {
    for (int64_t t = 0; t < k; ++t) {
      const int64_t j = nbr[s * k + t];
      const int64_t pos = atomicAdd(&cnt[j], 1);
      tlist[tptr[j] + pos] = s * k + t;
    }
  }
}

// Merges the forward row i (sorted by column) with its transposed list (sorted by source row):
// returns the row's length and, when ocol is not null, writes its columns and values. The CPU's
// merge (ops/tsne_symmetrize_cpu.cpp) operation for operation.
__device__ inline int64_t tsne_sym_merge_row(int64_t i, const int64_t* __restrict__ fidx,
                                             const int64_t* __restrict__ tlist,
                                             const int64_t* __restrict__ tptr,
                                             const int64_t* __restrict__ nbr,
                                             const float* __restrict__ P, int64_t k, double scale,
                                             int64_t* __restrict__ ocol, float* __restrict__ oval) {
  const int64_t* f = fidx + i * k;
  const int64_t* tl = tlist + tptr[i];
  const int64_t fn = k, tn = tptr[i + 1] - tptr[i];
  int64_t a = 0, b = 0, m = 0;
  while (a < fn || b < tn) {
    const int64_t fc = a < fn ? nbr[f[a]] : 0;
    const int64_t tc = b < tn ? tl[b] / k : 0;
    int64_t col;
    double v;
    if (b == tn || (a < fn && fc < tc)) {
      col = fc;
      v = static_cast<double>(P[f[a++]]);
    } else if (a == fn || tc < fc) {
      col = tc;
      v = static_cast<double>(P[tl[b++]]);
    } else {  // p_{j|i} + p_{i|j}, in that order, in double
      col = fc;
      v = static_cast<double>(P[f[a++]]) + static_cast<double>(P[tl[b++]]);
    }
    if (ocol) {
      ocol[m] = col;
      oval[m] = static_cast<float>(v / scale);
    }
    ++m;
  }
  return m;
}

// 4. One thread per row: sort its transposed list (insertion sort; each source once), then
// count the merged row into cnt[i].
__global__ void tsne_sym_count_kernel(int64_t* __restrict__ tlist, int32_t* __restrict__ cnt,
                                      const int32_t* __restrict__ error,
                                      const int64_t* __restrict__ fidx,
                                      const int64_t* __restrict__ tptr,
                                      const int64_t* __restrict__ nbr, const float* __restrict__ P,
                                      int64_t n, int64_t k) {
  if (*error != kTsneSymNoError) return;
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += step) {
    int64_t* tl = tlist + tptr[i];
    const int64_t tn = tptr[i + 1] - tptr[i];
    for (int64_t b = 1; b < tn; ++b) {
      const int64_t e = tl[b];
      int64_t u = b;
      while (u > 0 && tl[u - 1] > e) {
        tl[u] = tl[u - 1];
        --u;
      }
      tl[u] = e;
    }
    cnt[i] = static_cast<int32_t>(
        tsne_sym_merge_row(i, fidx, tlist, tptr, nbr, P, k, 1.0, nullptr, nullptr));
  }
}

// 6. One thread per row: write the merged row at indptr[i].
__global__ void tsne_sym_fill_kernel(int64_t* __restrict__ indices, float* __restrict__ data,
                                     const int32_t* __restrict__ error,
                                     const int64_t* __restrict__ indptr,
                                     const int64_t* __restrict__ fidx,
                                     const int64_t* __restrict__ tlist,
                                     const int64_t* __restrict__ tptr,
                                     const int64_t* __restrict__ nbr, const float* __restrict__ P,
                                     int64_t n, int64_t k, double scale) {
  if (*error != -1) return;
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += step) {
    tsne_sym_merge_row(i, fidx, tlist, tptr, nbr, P, k, scale, indices + indptr[i],
                       data + indptr[i]);
  }
}

// The symmetrisation through launch(grid, block, kernel, args...) (a real <<<>>> launch or the
// emulator's): all pointers in the launch's memory, scratch sized as TsneSymScratch says.
template <class Launch>
void tsne_symmetrize_cuda_run(int64_t* indptr, int64_t* indices, float* data, int32_t* error,
                              const int64_t* nbr, const float* P, int64_t n, int64_t k, int config,
                              const TsneSymScratch& s, Launch&& launch) {
  tsne_symmetrize_check_params(n, k, config);
  const TsneSymGeometry g = tsne_symmetrize_geometry(config);
  int64_t blocks = (n + g.threads - 1) / g.threads;
  blocks = std::max<int64_t>(1, std::min(blocks, g.blocks));
  const dim3 grid(static_cast<unsigned>(blocks)), block(static_cast<unsigned>(g.threads));
  const dim3 one(1), scan_block(static_cast<unsigned>(g.scan_threads));
  const double scale = 2.0 * static_cast<double>(n);
  launch(grid, block, &tsne_sym_init_kernel, s.cnt, error, n);
  launch(grid, block, &tsne_sym_rows_kernel, s.fidx, s.cnt, error, nbr, P, n, k);
  launch(one, scan_block, &tsne_sym_scan_kernel, s.tptr, s.cnt, error, n, 0);
  launch(grid, block, &tsne_sym_scatter_kernel, s.tlist, s.cnt, static_cast<const int32_t*>(error),
         static_cast<const int64_t*>(s.tptr), nbr, n, k);
  launch(grid, block, &tsne_sym_count_kernel, s.tlist, s.cnt, static_cast<const int32_t*>(error),
         static_cast<const int64_t*>(s.fidx), static_cast<const int64_t*>(s.tptr), nbr, P, n, k);
  launch(one, scan_block, &tsne_sym_scan_kernel, indptr, s.cnt, error, n, 1);
  launch(grid, block, &tsne_sym_fill_kernel, indices, data, static_cast<const int32_t*>(error),
         static_cast<const int64_t*>(indptr), static_cast<const int64_t*>(s.fidx),
         static_cast<const int64_t*>(s.tlist), static_cast<const int64_t*>(s.tptr), nbr, P, n, k,
         scale);
}

}  // namespace lf::LF_KERNEL_NS
