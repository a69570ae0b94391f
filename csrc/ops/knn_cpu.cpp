// CPU exact k nearest neighbours (see ops/knn.h): the double-precision oracle and the tiled
// GEMM + bounded-heap OpenMP version.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <utility>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"
#include "ops/gemm.h"
#include "ops/knn.h"

namespace lf {

namespace {

void check_knn_args(const float* X, int64_t n, int64_t d, int64_t k, int num_threads) {
  LF_CHECK(n >= 0, "knn: negative number of points n=", n);
  LF_CHECK(d >= 1, "knn: X must have at least one feature (d >= 1), got d=", d);
  LF_CHECK(k >= 1 && k <= n - 1, "knn: k must satisfy 1 <= k <= n - 1 = ", n - 1, ", got k=", k);
  // n * d and n * k fit in int64 (the binding checks the byte sizes too).
  LF_CHECK(n <= std::numeric_limits<int64_t>::max() / d, "knn: n * d overflows int64");
  // Finite X, one flag per row (no exception may leave an OpenMP region).
  std::vector<uint8_t> bad(static_cast<size_t>(n), 0);
  parallel_for_rows(n, d, num_threads, [&](int64_t i) {
    const float* x = X + i * d;
    bool ok = true;
    for (int64_t t = 0; t < d; ++t) ok &= std::isfinite(x[t]);
    bad[static_cast<size_t>(i)] = !ok;
  });
  for (int64_t i = 0; i < n; ++i) {
    LF_CHECK(!bad[static_cast<size_t>(i)], "knn: X contains NaN or Inf (first bad row ", i, ")");
  }
}

// Bounded max-heap of the k best (distance, index) candidates of one query row, ordered by
// (distance, index): the root is the current k-th best, the rejection threshold.
struct RowHeap {
  float* dist;
  int64_t* idx;
  int64_t size;

  static bool worse(float da, int64_t ia, float db, int64_t ib) {
    return da > db || (da == db && ia > ib);
  }

  void push(float dv, int64_t iv) {  // size < k
    int64_t c = size++;
    while (c > 0) {
      const int64_t p = (c - 1) / 2;
      if (!worse(dv, iv, dist[p], idx[p])) break;
      dist[c] = dist[p];
      idx[c] = idx[p];
      c = p;
    }
    dist[c] = dv;
    idx[c] = iv;
  }

  void replace_top(float dv, int64_t iv) {  // size == k, (dv, iv) better than the root
    int64_t c = 0;
    for (;;) {
      const int64_t l = 2 * c + 1;
      if (l >= size) break;
      int64_t m = l;
      if (l + 1 < size && worse(dist[l + 1], idx[l + 1], dist[l], idx[l])) m = l + 1;
      if (!worse(dist[m], idx[m], dv, iv)) break;
      dist[c] = dist[m];
      idx[c] = idx[m];
      c = m;
    }
    dist[c] = dv;
    idx[c] = iv;
  }
};

// Scans one row of a distance tile: dist[t] for reference rows j0 + t, t < nr, query row i.
// The threshold test is vectorizable; only chunks holding a candidate at or below the current
// k-th distance go through the (scalar) heap update.
inline void scan_row(RowHeap& h, int64_t k, const float* dist, int64_t nr, int64_t j0, int64_t i) {
  constexpr int64_t kChunk = 32;
  float thr = h.size == k ? h.dist[0] : std::numeric_limits<float>::infinity();
  for (int64_t c0 = 0; c0 < nr; c0 += kChunk) {
    const int64_t c1 = std::min(nr, c0 + kChunk);
    int any = 0;
    for (int64_t t = c0; t < c1; ++t) any |= dist[t] <= thr;
    if (!any) continue;
    for (int64_t t = c0; t < c1; ++t) {
      const float dv = dist[t];
      if (!(dv <= thr)) continue;
      const int64_t j = j0 + t;
      if (j == i) continue;
      if (h.size < k) {
        h.push(dv, j);
        if (h.size == k) thr = h.dist[0];
      } else if (RowHeap::worse(h.dist[0], h.idx[0], dv, j)) {
        h.replace_top(dv, j);
        thr = h.dist[0];
      }
    }
  }
}

// Writes a full heap in ascending (distance, index) order.
void emit_sorted(const RowHeap& h, int64_t* out_idx, float* out_dist,
                 std::vector<std::pair<float, int64_t>>& tmp) {
  tmp.resize(static_cast<size_t>(h.size));
  for (int64_t t = 0; t < h.size; ++t) tmp[static_cast<size_t>(t)] = {h.dist[t], h.idx[t]};
  std::sort(tmp.begin(), tmp.end());  // lexicographic: distance, then index
  for (int64_t t = 0; t < h.size; ++t) {
    out_dist[t] = tmp[static_cast<size_t>(t)].first;
    out_idx[t] = tmp[static_cast<size_t>(t)].second;
  }
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// No exception may leave an OpenMP region: the first one thrown inside is kept and rethrown by
// the caller after the region (allocation failures; the GEMM's own argument checks).
struct FirstError {
  std::exception_ptr ptr;
  template <class F>
  void run(const F& f) {
    try {
      f();
    } catch (...) {
#ifdef LF_WITH_OPENMP
#pragma omp critical(lf_knn_error)
#endif
      if (!ptr) ptr = std::current_exception();
    }
  }
  void rethrow() const {
    if (ptr) std::rethrow_exception(ptr);
  }
};

}  // namespace

void knn_naive(int64_t* indices, double* sq_distances, const float* X, int64_t n, int64_t d,
               int64_t k) {
  check_knn_args(X, n, d, k, 1);
  std::vector<std::pair<double, int64_t>> cand(static_cast<size_t>(n - 1));
  for (int64_t i = 0; i < n; ++i) {
    const float* xi = X + i * d;
    size_t c = 0;
    for (int64_t j = 0; j < n; ++j) {
      if (j == i) continue;
      const float* xj = X + j * d;
      double s = 0.0;
      for (int64_t t = 0; t < d; ++t) {
        const double diff = static_cast<double>(xi[t]) - static_cast<double>(xj[t]);
        s += diff * diff;
      }
      cand[c++] = {s, j};
    }
    std::partial_sort(cand.begin(), cand.begin() + k, cand.end());
    for (int64_t t = 0; t < k; ++t) {
      sq_distances[i * k + t] = cand[static_cast<size_t>(t)].first;
      indices[i * k + t] = cand[static_cast<size_t>(t)].second;
    }
  }
}

void knn_cpu(int64_t* indices, float* sq_distances, const float* X, int64_t n, int64_t d,
             int64_t k, int num_threads) {
  check_knn_args(X, n, d, k, num_threads);
  const int64_t QB = kKnnQueryBlock, RB = kKnnRefBlock;
  const int64_t n_qb = ceil_div(n, QB);

  // Squared norms as the GEMM computes them: s_i = -g_ii / 2 from the diagonal of a
  // (block x block) call with the same K, alpha and transposition as the distance tiles, so
  // they are bitwise the x_i . x_i those tiles would produce (see knn.h).
  std::vector<float> sq(static_cast<size_t>(n));
  auto norms_block = [&](int64_t b, std::vector<float>& tile) {
    const int64_t q0 = b * QB, mq = std::min(QB, n - q0);
    tile.resize(static_cast<size_t>(QB * QB));
    const float* xq = X + q0 * d;
    gemm_forward_cpu(tile.data(), mq, xq, d, false, xq, d, true, mq, mq, d, -2.0f, 0.0f, nullptr,
                     Activation::none, 1);
    for (int64_t r = 0; r < mq; ++r) sq[static_cast<size_t>(q0 + r)] = -0.5f * tile[r * mq + r];
  };

  // The distance tiles of one query block, swept over all reference tiles in increasing order.
  auto query_block = [&](int64_t b, std::vector<float>& tile, std::vector<float>& hd,
                         std::vector<int64_t>& hi,
                         std::vector<std::pair<float, int64_t>>& tmp) {
    const int64_t q0 = b * QB, mq = std::min(QB, n - q0);
    tile.resize(static_cast<size_t>(QB * RB));
    hd.resize(static_cast<size_t>(QB * k));
    hi.resize(static_cast<size_t>(QB * k));
    RowHeap heaps[kKnnQueryBlock];
    for (int64_t r = 0; r < mq; ++r) heaps[r] = {hd.data() + r * k, hi.data() + r * k, 0};
    const float* xq = X + q0 * d;
    for (int64_t j0 = 0; j0 < n; j0 += RB) {
      const int64_t nr = std::min(RB, n - j0);
      gemm_forward_cpu(tile.data(), nr, xq, d, false, X + j0 * d, d, true, mq, nr, d, -2.0f,
                       0.0f, nullptr, Activation::none, 1);
      const float* sr = sq.data() + j0;
      for (int64_t r = 0; r < mq; ++r) {
        float* row = tile.data() + r * nr;
        const float si = sq[static_cast<size_t>(q0 + r)];
        // d = max(0, (s_i + s_j) + g_ij): s_i + s_j first, so d(i, j) == d(j, i) bitwise.
        for (int64_t t = 0; t < nr; ++t) {
          const float v = (si + sr[t]) + row[t];
          row[t] = v < 0.0f ? 0.0f : v;
        }
        scan_row(heaps[r], k, row, nr, j0, q0 + r);
      }
    }
    for (int64_t r = 0; r < mq; ++r) {
      emit_sorted(heaps[r], indices + (q0 + r) * k, sq_distances + (q0 + r) * k, tmp);
    }
  };

  const int nt = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(num_threads, n_qb)));
#ifdef LF_WITH_OPENMP
  if (nt > 1) {
    FirstError err;
#pragma omp parallel num_threads(nt)
    {
      std::vector<float> tile;
#pragma omp for schedule(static)
      for (int64_t b = 0; b < n_qb; ++b) err.run([&] { norms_block(b, tile); });
    }
    err.rethrow();
  } else
#endif
  {
    std::vector<float> tile;
    for (int64_t b = 0; b < n_qb; ++b) norms_block(b, tile);
  }
  for (int64_t i = 0; i < n; ++i) {
    LF_CHECK(sq[static_cast<size_t>(i)] <= kKnnMaxSqNorm, "knn: the squared norm of row ", i,
             " (", sq[static_cast<size_t>(i)], ") exceeds ", kKnnMaxSqNorm,
             ": float32 distances would overflow; rescale X");
  }

#ifdef LF_WITH_OPENMP
  if (nt > 1) {
    FirstError err;
#pragma omp parallel num_threads(nt)
    {
      std::vector<float> tile, hd;
      std::vector<int64_t> hi;
      std::vector<std::pair<float, int64_t>> tmp;
      // Dynamic: blocks cost the same in flops, but heap updates vary with the data.
#pragma omp for schedule(dynamic, 1)
      for (int64_t b = 0; b < n_qb; ++b) err.run([&] { query_block(b, tile, hd, hi, tmp); });
    }
    err.rethrow();
    return;
  }
#endif
  std::vector<float> tile, hd;
  std::vector<int64_t> hi;
  std::vector<std::pair<float, int64_t>> tmp;
  for (int64_t b = 0; b < n_qb; ++b) query_block(b, tile, hd, hi, tmp);
}

}  // namespace lf
