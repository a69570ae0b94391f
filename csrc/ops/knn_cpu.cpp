// CPU exact k nearest neighbours (see ops/knn.h): the double-precision oracle and the tiled
// GEMM + bounded-heap OpenMP version.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/check.h"
#include "core/cpu_features.h"
#include "core/interrupt.h"
#include "core/parallel.h"
#include "ops/gemm.h"
#include "ops/knn.h"

#if defined(LF_HAVE_X86_KERNELS) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

namespace lf {

namespace {

void check_knn_args(const float* X, int64_t n, int64_t d, int64_t k, int num_threads) {
  LF_CHECK(n >= 0, "knn: negative number of points n=", n);
  LF_CHECK(d >= 1, "knn: X must have at least one feature (d >= 1), got d=", d);
  LF_CHECK(k >= 1 && k <= n - 1, "knn: k must satisfy 1 <= k <= n - 1 = ", n - 1, ", got k=", k);
  // n * d and n * k fit in int64 (the binding checks the byte sizes too).
  LF_CHECK(n <= std::numeric_limits<int64_t>::max() / d, "knn: n * d overflows int64");
  const int64_t bad = first_bad_row(X, n, d, num_threads, [](float v) { return std::isfinite(v); });
  LF_CHECK(bad < 0, "knn: X contains NaN or Inf (first bad row ", bad, ")");
}

// Bounded max-heap of the k best candidates of one query row. A candidate is the 64-bit key
// (bits of the distance) << 32 | index: distances are >= +0, whose bit patterns order like the
// values, so comparing keys compares (distance, index) lexicographically with one integer
// compare. The root is the current k-th best, the rejection threshold.
struct KeyHeap {
  uint64_t* key;
  int64_t size;

  void push(uint64_t v) {  // size < capacity
    int64_t c = size++;
    while (c > 0) {
      const int64_t p = (c - 1) / 2;
      if (key[p] >= v) break;
      key[c] = key[p];
      c = p;
    }
    key[c] = v;
  }

  void replace_top(uint64_t v) {  // v < key[0]
    int64_t c = 0;
    for (;;) {
      const int64_t l = 2 * c + 1;
      if (l >= size) break;
      const int64_t m = (l + 1 < size && key[l + 1] > key[l]) ? l + 1 : l;
      if (key[m] <= v) break;
      key[c] = key[m];
      c = m;
    }
    key[c] = v;
  }
};

inline uint64_t make_key(float d, int64_t j) {
  return (static_cast<uint64_t>(std::bit_cast<uint32_t>(d)) << 32) | static_cast<uint64_t>(j);
}
inline float key_distance(uint64_t key) {
  return std::bit_cast<float>(static_cast<uint32_t>(key >> 32));
}

// Offers candidate (d, j) to row i's heap; thr is kept at the heap's k-th distance (+inf until
// the heap holds k candidates). Reference rows are swept in increasing j, so a candidate whose
// distance equals the k-th distance has a larger index than the k-th candidate and loses the
// tie: the SIMD pre-filter `d < thr` rejects exactly the candidates the heap would reject.
inline void offer(KeyHeap& h, int64_t k, float d, int64_t j, int64_t i, float& thr) {
  if (j == i) return;
  const uint64_t key = make_key(d, j);
  if (h.size < k) {
    h.push(key);
    if (h.size == k) thr = key_distance(h.key[0]);
  } else if (key < h.key[0]) {
    h.replace_top(key);
    thr = key_distance(h.key[0]);
  }
}

inline float initial_threshold(const KeyHeap& h, int64_t k) {
  return h.size == k ? key_distance(h.key[0]) : std::numeric_limits<float>::infinity();
}

// One row of a distance tile: candidate j0 + t (t < nr) of query row i has distance
// max(0, (si + sr[t]) + g[t]); g is the GEMM row (-2 x_i . x_j). The same IEEE float
// operations in the same order on every path, so every path offers the same values.
void scan_row_scalar(KeyHeap& h, int64_t k, float si, const float* sr, const float* g, int64_t nr,
                     int64_t j0, int64_t i) {
  float thr = initial_threshold(h, k);
  for (int64_t t = 0; t < nr; ++t) {
    float v = (si + sr[t]) + g[t];
    v = v > 0.0f ? v : 0.0f;
    if (v < thr) offer(h, k, v, j0 + t, i, thr);
  }
}

#if defined(LF_HAVE_X86_KERNELS) && (defined(__GNUC__) || defined(__clang__))
#define LF_KNN_X86 1
// SIMD variants in this translation unit through target attributes (the file itself is built
// for the baseline ISA); called only when lf::active_isa() allows them.
__attribute__((target("avx2"))) void scan_row_avx2(KeyHeap& h, int64_t k, float si, const float* sr,
                                                   const float* g, int64_t nr, int64_t j0,
                                                   int64_t i) {
  float thr = initial_threshold(h, k);
  const __m256 vsi = _mm256_set1_ps(si), zero = _mm256_setzero_ps();
  __m256 vthr = _mm256_set1_ps(thr);
  int64_t t = 0;
  for (; t + 8 <= nr; t += 8) {
    __m256 v = _mm256_add_ps(_mm256_add_ps(vsi, _mm256_loadu_ps(sr + t)), _mm256_loadu_ps(g + t));
    v = _mm256_max_ps(v, zero);  // -0 and 0 give +0, as in the scalar path
    unsigned m = static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(v, vthr, _CMP_LT_OQ)));
    if (m == 0) continue;
    alignas(32) float buf[8];
    _mm256_store_ps(buf, v);
    while (m) {
      const int b = __builtin_ctz(m);
      m &= m - 1;
      if (buf[b] < thr) offer(h, k, buf[b], j0 + t + b, i, thr);
    }
    vthr = _mm256_set1_ps(thr);
  }
  for (; t < nr; ++t) {
    float v = (si + sr[t]) + g[t];
    v = v > 0.0f ? v : 0.0f;
    if (v < thr) offer(h, k, v, j0 + t, i, thr);
  }
}

__attribute__((target("avx512f"))) void scan_row_avx512(KeyHeap& h, int64_t k, float si,
                                                        const float* sr, const float* g, int64_t nr,
                                                        int64_t j0, int64_t i) {
  float thr = initial_threshold(h, k);
  const __m512 vsi = _mm512_set1_ps(si), zero = _mm512_setzero_ps();
  __m512 vthr = _mm512_set1_ps(thr);
  for (int64_t t = 0; t < nr; t += 16) {
    const __mmask16 live = nr - t >= 16 ? static_cast<__mmask16>(0xFFFF)
                                        : static_cast<__mmask16>((1u << (nr - t)) - 1u);
    __m512 v = _mm512_add_ps(_mm512_add_ps(vsi, _mm512_maskz_loadu_ps(live, sr + t)),
                             _mm512_maskz_loadu_ps(live, g + t));
    v = _mm512_max_ps(v, zero);
    unsigned m = _mm512_mask_cmp_ps_mask(live, v, vthr, _CMP_LT_OQ);
    if (m == 0) continue;
    alignas(64) float buf[16];
    _mm512_store_ps(buf, v);
    while (m) {
      const int b = __builtin_ctz(m);
      m &= m - 1;
      if (buf[b] < thr) offer(h, k, buf[b], j0 + t + b, i, thr);
    }
    vthr = _mm512_set1_ps(thr);
  }
}
#endif

using ScanRowFn = void (*)(KeyHeap&, int64_t, float, const float*, const float*, int64_t, int64_t,
                           int64_t);

ScanRowFn scan_row_for(Isa isa) {
#ifdef LF_KNN_X86
  if (isa == Isa::avx512) return &scan_row_avx512;
  if (isa == Isa::avx2) return &scan_row_avx2;
#endif
  return &scan_row_scalar;
}

// Writes a full heap in ascending (distance, index) order.
void emit_sorted(KeyHeap& h, int64_t* out_idx, float* out_dist) {
  std::sort(h.key, h.key + h.size);
  for (int64_t t = 0; t < h.size; ++t) {
    out_dist[t] = key_distance(h.key[t]);
    out_idx[t] = static_cast<int64_t>(h.key[t] & 0xffffffffu);
  }
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

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

void knn_cpu(int64_t* indices, float* sq_distances, const float* X, int64_t n, int64_t d, int64_t k,
             int num_threads) {
  check_knn_args(X, n, d, k, num_threads);
  LF_CHECK(n - 1 <= static_cast<int64_t>(UINT32_MAX),
           "knn: n must be at most 2^32 (candidate indices are packed in 32 bits), got n=", n);
  const int64_t n_qb = ceil_div(n, kKnnQueryBlock);
  const int nt = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(num_threads, n_qb)));
  const ScanRowFn scan_row = scan_row_for(active_isa());

  // Runs body(b, scratch) for b in [0, nb) over nt threads; Scratch is per thread. Once an
  // interrupt is requested (core/interrupt.h) the remaining blocks are skipped: the caller
  // discards the output.
  const InterruptPoll stop;
  auto parallel_blocks = [nt, &stop](int64_t nb, auto&& body) {
    using Scratch = typename std::remove_reference_t<decltype(body)>::Scratch;
#ifdef LF_WITH_OPENMP
    if (nt > 1) {
      FirstError err;
#pragma omp parallel num_threads(nt)
      {
        Scratch scratch;
        // Dynamic: blocks cost the same in flops, but heap updates vary with the data.
#pragma omp for schedule(dynamic, 1)
        for (int64_t b = 0; b < nb; ++b) {
          if (!stop()) err.run([&] { body(b, scratch); });
        }
      }
      err.rethrow();
      return;
    }
#endif
    Scratch scratch;
    for (int64_t b = 0; b < nb && !stop(); ++b) body(b, scratch);
  };

  // X^T (d x n), so that a reference tile is a column range of a row-major K x N matrix: the
  // GEMM then reads it in place (or packs it with a row copy) instead of transposing it for
  // every query block. Only data movement: the products and their order are unchanged.
  std::vector<float> xt(static_cast<size_t>(n) * static_cast<size_t>(d));
  struct NoScratch {};
  struct TransposeBody {
    using Scratch = NoScratch;
    const float* X;
    float* xt;
    int64_t n, d;
    void operator()(int64_t b, Scratch&) const {
      const int64_t i0 = b * 256, i1 = std::min(n, i0 + 256);
      for (int64_t t = 0; t < d; ++t) {
        for (int64_t i = i0; i < i1; ++i) xt[t * n + i] = X[i * d + t];
      }
    }
  };
  parallel_blocks(ceil_div(n, 256), TransposeBody{X, xt.data(), n, d});

  // Squared norms as the GEMM computes them: s_i = -g_ii / 2 from the diagonal of a
  // (block x block) call with the same K and alpha as the distance tiles, so they are bitwise
  // the x_i . x_i those tiles would produce (see knn.h).
  std::vector<float> sq(static_cast<size_t>(n));
  struct TileScratch {
    std::vector<float> tile;
  };
  struct NormsBody {
    using Scratch = TileScratch;
    const float *X, *xt;
    float* sq;
    int64_t n, d;
    void operator()(int64_t b, Scratch& s) const {
      const int64_t q0 = b * kKnnQueryBlock, mq = std::min(kKnnQueryBlock, n - q0);
      s.tile.resize(static_cast<size_t>(mq * mq));
      gemm_forward_cpu(s.tile.data(), mq, X + q0 * d, d, false, xt + q0, n, false, mq, mq, d, -2.0f,
                       0.0f, nullptr, Activation::none, 1);
      for (int64_t r = 0; r < mq; ++r) sq[q0 + r] = -0.5f * s.tile[static_cast<size_t>(r * mq + r)];
    }
  };
  parallel_blocks(n_qb, NormsBody{X, xt.data(), sq.data(), n, d});
  for (int64_t i = 0; i < n; ++i) {
    LF_CHECK(sq[static_cast<size_t>(i)] <= kKnnMaxSqNorm, "knn: the squared norm of row ", i, " (",
             sq[static_cast<size_t>(i)], ") exceeds ", kKnnMaxSqNorm,
             ": float32 distances would overflow; rescale X");
  }

  // One query block: all reference tiles in increasing order, each computed by one
  // single-threaded GEMM call into an L2-resident tile, then scanned row by row.
  struct QueryScratch {
    std::vector<float> tile;
    std::vector<uint64_t> keys;
  };
  struct QueryBody {
    using Scratch = QueryScratch;
    const float *X, *xt, *sq;
    int64_t* indices;
    float* sq_distances;
    int64_t n, d, k;
    ScanRowFn scan_row;
    void operator()(int64_t b, Scratch& s) const {
      const int64_t q0 = b * kKnnQueryBlock, mq = std::min(kKnnQueryBlock, n - q0);
      s.tile.resize(static_cast<size_t>(kKnnQueryBlock * kKnnRefBlock));
      s.keys.resize(static_cast<size_t>(kKnnQueryBlock * k));
      KeyHeap heaps[kKnnQueryBlock];
      for (int64_t r = 0; r < mq; ++r) heaps[r] = {s.keys.data() + r * k, 0};
      for (int64_t j0 = 0; j0 < n; j0 += kKnnRefBlock) {
        const int64_t nr = std::min(kKnnRefBlock, n - j0);
        gemm_forward_cpu(s.tile.data(), nr, X + q0 * d, d, false, xt + j0, n, false, mq, nr, d,
                         -2.0f, 0.0f, nullptr, Activation::none, 1);
        for (int64_t r = 0; r < mq; ++r) {
          scan_row(heaps[r], k, sq[q0 + r], sq + j0, s.tile.data() + r * nr, nr, j0, q0 + r);
        }
      }
      for (int64_t r = 0; r < mq; ++r) {
        emit_sorted(heaps[r], indices + (q0 + r) * k, sq_distances + (q0 + r) * k);
      }
    }
  };
  parallel_blocks(n_qb,
                  QueryBody{X, xt.data(), sq.data(), indices, sq_distances, n, d, k, scan_row});
}

}  // namespace lf
