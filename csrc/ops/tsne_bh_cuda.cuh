// Device side of the CUDA t-SNE gradients (contracts in ops/tsne_bh.h, CUDA section), plus the
// host-side pieces shared by the launcher (ops/tsne_bh_cuda.cu, lf::gpu) and the emulator
// (emu/tsne_bh_cuda_emu.cpp, lf::emu): the argument checks, the flattened quadtree, the launch
// geometry and the dispatch. The kernels use only the emulated subset of emu/cuda_emu.h: log
// (double), IEEE `/`, LF_SHARED + __syncthreads(); no atomics, no warp functions.
//
//   tsne_exact_rows_kernel / tsne_bh_rows_kernel: one thread per point (grid-stride), the CPU's
//     per-point loop of ops/tsne_bh_cpu.cpp written out again with the same operations in the
//     same order, storing the per-point sums (TsneCudaSums).
//   tsne_reduce_kernel<T>: ONE block of T threads. Each round the block loads T consecutive z_i,
//     KL terms and p sums into shared memory (coalesced) and thread 0 adds them in index order:
//     the CPU's serial order, so Z is the CPU's Z bit for bit. Writes Z, 1 / Z and the KL.
//   tsne_scale_kernel: one thread per gradient element (grid-stride): 4 (e attr - rep / Z).
#pragma once

#include <math.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/check.h"
#include "core/cuda_subset.h"  // LF_KERNEL_NS, LF_SHARED
#include "ops/tsne_bh.h"
#include "ops/tsne_bh_quad_tree.h"

namespace lf {

// One cell of the host-built quadtree as the device reads it. Leaves list their points as the
// range [begin, end) of the permutation `order`, in the order the CPU walks the leaf's list.
struct TsneBhFlatCell {
  double cx, cy, hw;   // centre and half-width
  double mx, my;       // centre of mass
  int64_t count;       // points below the cell
  int64_t begin, end;  // leaves: their points, order[begin:end]
  int32_t child[4];    // quadrant q = (x >= cx) + 2 (y >= cy); -1: none
  int32_t leaf, same;  // same: a leaf of identical points
};

struct TsneBhFlatTree {
  std::vector<TsneBhFlatCell> cells;
  std::vector<int64_t> order;
};

// The CPU's tree (built serially from Y, host memory), flattened cell by cell.
inline TsneBhFlatTree tsne_bh_flatten(const float* Y, int64_t n) {
  const QuadTree tree(Y, n);
  const std::vector<QuadCell>& cells = tree.cells();
  const std::vector<int64_t>& next = tree.next();
  TsneBhFlatTree flat;
  flat.cells.resize(cells.size());
  flat.order.reserve(static_cast<size_t>(n));
  for (size_t k = 0; k < cells.size(); ++k) {
    const QuadCell& c = cells[k];
    TsneBhFlatCell& f = flat.cells[k];
    f.cx = c.cx;
    f.cy = c.cy;
    f.hw = c.hw;
    f.mx = c.mx;
    f.my = c.my;
    f.count = c.count;
    for (int q = 0; q < 4; ++q) f.child[q] = c.child[q];
    f.leaf = c.leaf ? 1 : 0;
    f.same = c.same ? 1 : 0;
    f.begin = static_cast<int64_t>(flat.order.size());
    if (c.leaf) {
      for (int64_t j = c.first; j >= 0; j = next[static_cast<size_t>(j)]) flat.order.push_back(j);
    }
    f.end = static_cast<int64_t>(flat.order.size());
  }
  return flat;
}

// Host-side checks of the sizes and scalars (the launchers; std::invalid_argument).
inline void tsne_cuda_check_params(int64_t n, double exaggeration, double theta, int config,
                                   const char* who) {
  LF_CHECK(n >= 2, who, ": need at least 2 points, got n = ", n);
  LF_CHECK(std::isfinite(exaggeration), who, ": exaggeration must be finite, got ", exaggeration);
  LF_CHECK(std::isfinite(theta) && theta >= 0.0, who, ": theta must be finite and >= 0, got ",
           theta);
  LF_CHECK(config >= 0 && config < kTsneCudaConfigs, who, ": config must be in [0, ",
           kTsneCudaConfigs, "), got ", config);
}

// And of host contents, as the CPU kernels check them (the *_from_host helpers and the emulator).
inline void tsne_cuda_check_host_exact(const float* Y, const float* P, int64_t n,
                                       double exaggeration, int config, const char* who) {
  tsne_cuda_check_params(n, exaggeration, 0.0, config, who);
  for (int64_t i = 0; i < 2 * n; ++i) {
    LF_CHECK(std::isfinite(Y[i]), who, ": Y contains NaN or Inf (row ", i / 2, ")");
  }
  for (int64_t k = 0; k < n * n; ++k) {
    LF_CHECK(std::isfinite(P[k]) && P[k] >= 0.0f, who, ": P must be finite and >= 0 (row ", k / n,
             ")");
  }
}

inline void tsne_cuda_check_host_bh(const float* Y, const int64_t* indptr, const int64_t* indices,
                                    const float* pvals, int64_t n, int64_t nnz, double theta,
                                    double exaggeration, int config, const char* who) {
  tsne_cuda_check_params(n, exaggeration, theta, config, who);
  for (int64_t i = 0; i < 2 * n; ++i) {
    LF_CHECK(std::isfinite(Y[i]), who, ": Y contains NaN or Inf (row ", i / 2, ")");
  }
  // check_tsne_csr's checks, inline: the emulator module links no library code.
  LF_CHECK(indptr[0] == 0, who, ": indptr[0] must be 0, got ", indptr[0]);
  for (int64_t i = 0; i < n; ++i) {
    LF_CHECK(indptr[i + 1] >= indptr[i], who, ": indptr must be non-decreasing (indptr[", i + 1,
             "] = ", indptr[i + 1], " < indptr[", i, "] = ", indptr[i], ")");
  }
  LF_CHECK(indptr[n] == nnz, who, ": indptr[n] = ", indptr[n],
           " must equal the number of stored entries (len(indices) = len(pvals) = ", nnz, ")");
  for (int64_t k = 0; k < nnz; ++k) {
    LF_CHECK(indices[k] >= 0 && indices[k] < n, who, ": indices[", k, "] = ", indices[k],
             " out of range [0, ", n, ")");
    LF_CHECK(std::isfinite(pvals[k]) && pvals[k] >= 0.0f, who,
             ": pvals must be finite and >= 0 (pvals[", k, "] = ", pvals[k], ")");
  }
}

// Scratch: 7n + 2 doubles.
inline int64_t tsne_cuda_scratch_doubles(int64_t n) { return 7 * n + 2; }

}  // namespace lf

namespace lf::LF_KERNEL_NS {

// The per-point sums (each n or 2n doubles) and the two scalars Z, 1 / Z, carved from one scratch
// array of tsne_cuda_scratch_doubles(n).
struct TsneCudaSums {
  double* attr;   // 2n: sum_j p_ij w_ij (y_i - y_j)
  double* rep;    // 2n: sum_j w_ij^2 (y_i - y_j)
  double* zrow;   // n: sum_j w_ij
  double* klrow;  // n: sum_j p_ij (log p_ij - log w_ij) over p_ij > 0
  double* prow;   // n: sum of those p_ij
  double* scal;   // 2: Z, 1 / Z
};

inline TsneCudaSums tsne_cuda_sums(double* scratch, int64_t n) {
  TsneCudaSums s;
  s.attr = scratch;
  s.rep = scratch + 2 * n;
  s.zrow = scratch + 4 * n;
  s.klrow = scratch + 5 * n;
  s.prow = scratch + 6 * n;
  s.scal = scratch + 7 * n;
  return s;
}

// The traversal stack: the tree is at most kMaxDepth + 1 levels deep and a level leaves at most
// 3 siblings pending (as the CPU's).
inline constexpr int kTsneCudaStack = 4 * (QuadTree::kMaxDepth + 2);

struct TsneCudaGeometry {
  int rows_threads;    // the per-point kernels
  int64_t rows_cap;    // at most this many blocks (grid-stride beyond)
  int reduce_threads;  // the one reduction block (a template argument: 256 or 32)
  int scale_threads;   // the scaling kernel
  int64_t scale_cap;
};

// config 0: the device's; config 1: small blocks and at most 3 / 2 blocks, so the emulator tests
// run several grid-stride rounds, ragged blocks and several reduction rounds.
inline TsneCudaGeometry tsne_cuda_geometry(int config) {
  if (config == 0) return {128, int64_t{1} << 20, 256, 256, int64_t{1} << 20};
  return {32, 3, 32, 96, 2};
}

inline dim3 tsne_cuda_grid(int64_t work, int threads, int64_t cap) {
  int64_t blocks = (work + threads - 1) / threads;
  if (blocks > cap) blocks = cap;
  if (blocks < 1) blocks = 1;
  return dim3(static_cast<unsigned>(blocks));
}

__device__ __forceinline__ void tsne_store(const TsneCudaSums& s, int64_t i, double ax, double ay,
                                           double rx, double ry, double z, double kls, double ps) {
  s.attr[2 * i] = ax;
  s.attr[2 * i + 1] = ay;
  s.rep[2 * i] = rx;
  s.rep[2 * i + 1] = ry;
  s.zrow[i] = z;
  s.klrow[i] = kls;
  s.prow[i] = ps;
}

// Exact: the CPU's loop over j in index order (ops/tsne_bh_cpu.cpp, tsne_gradient_exact_cpu).
__global__ void tsne_exact_rows_kernel(TsneCudaSums s, const float* __restrict__ Y,
                                       const float* __restrict__ P, int64_t n, bool compute_kl) {
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += step) {
    const double xi = Y[2 * i], yi = Y[2 * i + 1];
    const float* pr = P + i * n;
    double ax = 0, ay = 0, rx = 0, ry = 0, z = 0, kls = 0, ps = 0;
    for (int64_t j = 0; j < n; ++j) {
      if (j == i) continue;
      const double dx = xi - Y[2 * j], dy = yi - Y[2 * j + 1];
      const double w = 1.0 / (1.0 + dx * dx + dy * dy);
      z += w;
      rx += w * w * dx;
      ry += w * w * dy;
      const double p = pr[j];
      if (p > 0.0) {
        ax += p * w * dx;
        ay += p * w * dy;
        if (compute_kl) kls += p * (log(p) - log(w));
        ps += p;
      }
    }
    tsne_store(s, i, ax, ay, rx, ry, z, kls, ps);
  }
}

// Barnes-Hut: the CPU's CSR row, then its traversal (tsne_gradient_bh_cpu), over the flattened
// tree; theta2 = theta * theta.
__global__ void tsne_bh_rows_kernel(TsneCudaSums s, const TsneBhFlatCell* __restrict__ cells,
                                    const int64_t* __restrict__ order, const float* __restrict__ Y,
                                    const int64_t* __restrict__ indptr,
                                    const int64_t* __restrict__ indices,
                                    const float* __restrict__ pvals, int64_t n, double theta2,
                                    bool compute_kl) {
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += step) {
    const double xi = Y[2 * i], yi = Y[2 * i + 1];
    double ax = 0, ay = 0, kls = 0, ps = 0;
    for (int64_t k = indptr[i]; k < indptr[i + 1]; ++k) {
      const int64_t j = indices[k];
      const double p = pvals[k];
      if (j == i || !(p > 0.0)) continue;
      const double dx = xi - Y[2 * j], dy = yi - Y[2 * j + 1];
      const double w = 1.0 / (1.0 + dx * dx + dy * dy);
      ax += p * w * dx;
      ay += p * w * dy;
      if (compute_kl) kls += p * (log(p) - log(w));
      ps += p;
    }
    double rx = 0, ry = 0, z = 0;
    int32_t stack[kTsneCudaStack];
    int top = 0;
    stack[top++] = 0;
    while (top > 0) {
      const TsneBhFlatCell& c = cells[stack[--top]];
      if (c.count == 0) continue;
      const double side = 2.0 * c.hw;
      const bool inside =
          xi >= c.cx - c.hw && xi <= c.cx + c.hw && yi >= c.cy - c.hw && yi <= c.cy + c.hw;
      if (!inside) {
        const double dx = xi - c.mx, dy = yi - c.my;
        const double d2 = dx * dx + dy * dy;
        if (side * side < theta2 * d2) {
          const double w = 1.0 / (1.0 + d2);
          const double cw = static_cast<double>(c.count) * w;
          z += cw;
          rx += cw * w * dx;
          ry += cw * w * dy;
          continue;
        }
      }
      if (!c.leaf) {
        for (int q = 3; q >= 0; --q) {
          if (c.child[q] >= 0) stack[top++] = c.child[q];
        }
        continue;
      }
      if (c.same) {  // identical points: one distance, count (minus i itself) contributions
        const int64_t f = order[c.begin];
        const double dx = xi - Y[2 * f], dy = yi - Y[2 * f + 1];
        const bool self = dx == 0.0 && dy == 0.0;
        const double m = static_cast<double>(c.count - (self ? 1 : 0));
        const double w = 1.0 / (1.0 + dx * dx + dy * dy);
        z += m * w;
        rx += m * w * w * dx;
        ry += m * w * w * dy;
        continue;
      }
      for (int64_t k = c.begin; k < c.end; ++k) {
        const int64_t j = order[k];
        if (j == i) continue;
        const double dx = xi - Y[2 * j], dy = yi - Y[2 * j + 1];
        const double w = 1.0 / (1.0 + dx * dx + dy * dy);
        z += w;
        rx += w * w * dx;
        ry += w * w * dy;
      }
    }
    tsne_store(s, i, ax, ay, rx, ry, z, kls, ps);
  }
}

// One block of T threads: Z, 1 / Z and (kl != nullptr) the KL, from the per-point sums added in
// index order by thread 0 (rounds of T values staged through shared memory).
template <int T>
__global__ void tsne_reduce_kernel(TsneCudaSums s, int64_t n, double* kl) {
  LF_SHARED(double, zs, [T]);
  LF_SHARED(double, ks, [T]);
  LF_SHARED(double, qs, [T]);
  const int t = static_cast<int>(threadIdx.x);
  double Z = 0.0, kls = 0.0, ps = 0.0;  // thread 0's
  for (int64_t base = 0; base < n; base += T) {
    const int64_t i = base + t;
    if (i < n) {
      zs[t] = s.zrow[i];
      ks[t] = s.klrow[i];
      qs[t] = s.prow[i];
    }
    __syncthreads();
    if (t == 0) {
      const int m = n - base < T ? static_cast<int>(n - base) : T;
      for (int k = 0; k < m; ++k) {
        Z += zs[k];
        kls += ks[k];
        ps += qs[k];
      }
    }
    __syncthreads();  // the next round overwrites the stage only after thread 0 read it
  }
  if (t == 0) {
    s.scal[0] = Z;
    s.scal[1] = 1.0 / Z;  // Z > 0: every w_ij > 0 for finite Y and n >= 2
    if (kl != nullptr) *kl = kls + log(Z) * ps;
  }
}

// grad[k] = float(4 (exaggeration attr[k] - rep[k] / Z)), k < 2n.
__global__ void tsne_scale_kernel(float* __restrict__ grad, TsneCudaSums s, int64_t n2,
                                  double exaggeration) {
  const double invZ = s.scal[1];
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t k = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; k < n2; k += step) {
    grad[k] = static_cast<float>(4.0 * (exaggeration * s.attr[k] - s.rep[k] * invZ));
  }
}

// Steps 2 and 3, after either per-point kernel.
template <class Launch>
void tsne_cuda_finish(float* grad, double* kl, TsneCudaSums s, int64_t n, double exaggeration,
                      const TsneCudaGeometry& g, Launch& launch) {
  if (g.reduce_threads == 256) {
    launch(dim3(1), dim3(256), &tsne_reduce_kernel<256>, s, n, kl);
  } else {
    launch(dim3(1), dim3(32), &tsne_reduce_kernel<32>, s, n, kl);
  }
  launch(tsne_cuda_grid(2 * n, g.scale_threads, g.scale_cap),
         dim3(static_cast<unsigned>(g.scale_threads)), &tsne_scale_kernel, grad, s, 2 * n,
         exaggeration);
}

// The exact gradient through launch(grid, block, kernel, args...) (a real <<<>>> launch or the
// emulator's): all pointers in the launch's memory; scratch holds tsne_cuda_scratch_doubles(n).
template <class Launch>
void tsne_exact_cuda_run(float* grad, double* kl, const float* Y, const float* P, int64_t n,
                         double exaggeration, double* scratch, int config, Launch&& launch) {
  tsne_cuda_check_params(n, exaggeration, 0.0, config, "tsne_gradient_exact_cuda");
  const TsneCudaGeometry g = tsne_cuda_geometry(config);
  const TsneCudaSums s = tsne_cuda_sums(scratch, n);
  launch(tsne_cuda_grid(n, g.rows_threads, g.rows_cap), dim3(static_cast<unsigned>(g.rows_threads)),
         &tsne_exact_rows_kernel, s, Y, P, n, kl != nullptr);
  tsne_cuda_finish(grad, kl, s, n, exaggeration, g, launch);
}

// Barnes-Hut, the tree (cells, order) already in the launch's memory.
template <class Launch>
void tsne_bh_cuda_run(float* grad, double* kl, const TsneBhFlatCell* cells, const int64_t* order,
                      const float* Y, const int64_t* indptr, const int64_t* indices,
                      const float* pvals, int64_t n, double theta, double exaggeration,
                      double* scratch, int config, Launch&& launch) {
  tsne_cuda_check_params(n, exaggeration, theta, config, "tsne_gradient_bh_cuda");
  const TsneCudaGeometry g = tsne_cuda_geometry(config);
  const TsneCudaSums s = tsne_cuda_sums(scratch, n);
  launch(tsne_cuda_grid(n, g.rows_threads, g.rows_cap), dim3(static_cast<unsigned>(g.rows_threads)),
         &tsne_bh_rows_kernel, s, cells, order, Y, indptr, indices, pvals, n, theta * theta,
         kl != nullptr);
  tsne_cuda_finish(grad, kl, s, n, exaggeration, g, launch);
}

}  // namespace lf::LF_KERNEL_NS
