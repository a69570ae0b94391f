// CPU symmetrisation of t-SNE's kNN conditional affinities into a CSR matrix (see
// ops/tsne_symmetrize.h).
//
// Instead of sorting 2 n k (row, column) keys, the two halves of P_cond + P_cond^T are built
// already sorted and merged row by row:
//   * forward part, row i: the k pairs (nbr[i, t], P[i, t]) sorted by column (one small sort
//     per row, which also finds repeated indices);
//   * transposed part, row j: the pairs (i, P[i, t]) with nbr[i, t] == j, by a counting sort
//     over source rows in increasing i, so each list comes out sorted by column i. Threads take
//     contiguous ranges of source rows and write at offsets computed from per-range counts, so
//     the layout is the serial one whatever the thread count.
// A first merge pass counts each output row (giving indptr), a second writes it.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"
#include "ops/tsne_symmetrize.h"

#ifdef LF_WITH_OPENMP
#include <omp.h>
#endif

namespace lf {

namespace {

// What is wrong with one input row (the first problem found in it), for the error message.
struct RowError {
  int code = 0;  // 0 ok, 1 index out of range, 2 self index, 3 index repeated, 4 non-finite P
  int64_t t = 0, j = 0;
};

}  // namespace

void tsne_symmetrize_cpu(CsrMatrixF32* out, const int64_t* nbr, const float* P, int64_t n,
                         int64_t k, int num_threads) {
  LF_CHECK(n >= 0 && k >= 0, "tsne_symmetrize: negative shape (", n, ", ", k, ")");
  LF_CHECK(n == 0 || k <= std::numeric_limits<int64_t>::max() / 2 / n,
           "tsne_symmetrize: 2 * n * k overflows int64");
  const size_t nk = static_cast<size_t>(n * k);

  // 1. Validate each row and sort its forward entries by column.
  std::vector<int64_t> fcol(nk);
  std::vector<float> fval(nk);
  std::vector<RowError> err(static_cast<size_t>(n));
  parallel_for_rows(n, k, num_threads, [&](int64_t i) {
    thread_local std::vector<std::pair<int64_t, float>> row;
    row.resize(static_cast<size_t>(k));
    RowError& e = err[static_cast<size_t>(i)];
    for (int64_t t = 0; t < k; ++t) {
      const int64_t j = nbr[i * k + t];
      const float p = P[i * k + t];
      if (e.code == 0) {
        if (j < 0 || j >= n)
          e = {1, t, j};
        else if (j == i)
          e = {2, t, j};
        else if (!std::isfinite(p))
          e = {4, t, j};
      }
      row[static_cast<size_t>(t)] = {j, p};
    }
    if (e.code != 0) return;
    std::sort(row.begin(), row.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (int64_t t = 0; t < k; ++t) {
      if (t > 0 && row[static_cast<size_t>(t)].first == row[static_cast<size_t>(t - 1)].first) {
        e = {3, -1, row[static_cast<size_t>(t)].first};
        return;
      }
      fcol[static_cast<size_t>(i * k + t)] = row[static_cast<size_t>(t)].first;
      fval[static_cast<size_t>(i * k + t)] = row[static_cast<size_t>(t)].second;
    }
  });
  for (int64_t i = 0; i < n; ++i) {
    const RowError& e = err[static_cast<size_t>(i)];
    switch (e.code) {
      case 1:
        LF_CHECK(false, "tsne_symmetrize: indices[", i, ", ", e.t, "] = ", e.j,
                 " is out of range [0, ", n, ")");
        break;
      case 2:
        LF_CHECK(false, "tsne_symmetrize: indices[", i, ", ", e.t, "] = ", i,
                 " is the row itself (self-neighbours are not allowed)");
        break;
      case 3:
        LF_CHECK(false, "tsne_symmetrize: row ", i, " of indices lists neighbour ", e.j,
                 " more than once");
        break;
      case 4: LF_CHECK(false, "tsne_symmetrize: P_cond[", i, ", ", e.t, "] is NaN or Inf"); break;
      default: break;
    }
  }
  std::vector<RowError>().swap(err);

  // 2. Transposed part by a counting sort over source rows. Source rows are split into nc
  //    contiguous ranges; cnt[c * n + j] counts the entries of range c that land in row j.
  int nc = 1;
#ifdef LF_WITH_OPENMP
  if (num_threads > 1 && static_cast<int64_t>(nk) >= kSerialBelow && n >= num_threads) {
    nc = num_threads;
  }
#endif
  std::vector<int64_t> tptr(static_cast<size_t>(n) + 1, 0);
  std::vector<int64_t> cnt(static_cast<size_t>(nc) * static_cast<size_t>(n), 0);
  auto range_of = [&](int c) { return std::pair<int64_t, int64_t>(n * c / nc, n * (c + 1) / nc); };
  auto count_range = [&](int c) {
    const auto [i0, i1] = range_of(c);
    int64_t* cc = cnt.data() + static_cast<size_t>(c) * static_cast<size_t>(n);
    for (int64_t e = i0 * k; e < i1 * k; ++e) ++cc[nbr[e]];
  };
  std::vector<int64_t> tsrc(nk);
  std::vector<float> tval(nk);
  auto fill_range = [&](int c) {
    const auto [i0, i1] = range_of(c);
    int64_t* pos = cnt.data() + static_cast<size_t>(c) * static_cast<size_t>(n);  // offsets now
    for (int64_t i = i0; i < i1; ++i) {
      for (int64_t t = 0; t < k; ++t) {
        const int64_t p = pos[nbr[i * k + t]]++;
        tsrc[static_cast<size_t>(p)] = i;
        tval[static_cast<size_t>(p)] = P[i * k + t];
      }
    }
  };
#ifdef LF_WITH_OPENMP
#pragma omp parallel for num_threads(nc) schedule(static) if (nc > 1)
#endif
  for (int c = 0; c < nc; ++c) count_range(c);
  // Row j of the transpose starts at tptr[j]; range c writes after ranges 0..c-1.
  for (int64_t j = 0; j < n; ++j) {
    int64_t off = tptr[static_cast<size_t>(j)];
    for (int c = 0; c < nc; ++c) {
      int64_t& v = cnt[static_cast<size_t>(c) * static_cast<size_t>(n) + static_cast<size_t>(j)];
      const int64_t m = v;
      v = off;
      off += m;
    }
    tptr[static_cast<size_t>(j) + 1] = off;
  }
#ifdef LF_WITH_OPENMP
#pragma omp parallel for num_threads(nc) schedule(static) if (nc > 1)
#endif
  for (int c = 0; c < nc; ++c) fill_range(c);
  std::vector<int64_t>().swap(cnt);

  // 3. Merge the forward row i (sorted columns) with the transposed row i (sorted source rows).
  //    Both lists hold each column at most once, so a column is in one list or in both.
  const double scale = 2.0 * static_cast<double>(n);
  auto merge_row = [&](int64_t i, int64_t* ocol, float* oval) -> int64_t {
    const int64_t* fc = fcol.data() + i * k;
    const float* fv = fval.data() + i * k;
    const int64_t* tc = tsrc.data() + tptr[static_cast<size_t>(i)];
    const float* tv = tval.data() + tptr[static_cast<size_t>(i)];
    const int64_t fn = k, tn = tptr[static_cast<size_t>(i) + 1] - tptr[static_cast<size_t>(i)];
    int64_t a = 0, b = 0, m = 0;
    while (a < fn || b < tn) {
      int64_t col;
      double v;
      if (b == tn || (a < fn && fc[a] < tc[b])) {
        col = fc[a];
        v = static_cast<double>(fv[a++]);
      } else if (a == fn || tc[b] < fc[a]) {
        col = tc[b];
        v = static_cast<double>(tv[b++]);
      } else {  // p_{j|i} + p_{i|j}, in that order, in double
        col = fc[a];
        v = static_cast<double>(fv[a++]) + static_cast<double>(tv[b++]);
      }
      if (ocol) {
        ocol[m] = col;
        oval[m] = static_cast<float>(v / scale);
      }
      ++m;
    }
    return m;
  };

  out->indptr.assign(static_cast<size_t>(n) + 1, 0);
  int64_t* indptr = out->indptr.data();
  parallel_for_rows(n, k, num_threads,
                    [&](int64_t i) { indptr[i + 1] = merge_row(i, nullptr, nullptr); });
  for (int64_t i = 0; i < n; ++i) indptr[i + 1] += indptr[i];
  const size_t nnz = static_cast<size_t>(indptr[n]);
  out->indices.resize(nnz);
  out->data.resize(nnz);
  int64_t* oc = out->indices.data();
  float* ov = out->data.data();
  parallel_for_rows(n, k, num_threads,
                    [&](int64_t i) { merge_row(i, oc + indptr[i], ov + indptr[i]); });
}

void tsne_symmetrize_naive(CsrMatrixF32* out, const int64_t* nbr, const float* P, int64_t n,
                           int64_t k) {
  LF_CHECK(n >= 0 && k >= 0, "tsne_symmetrize: negative shape (", n, ", ", k, ")");
  struct Entry {
    int64_t row, col;
    double p;
  };
  std::vector<Entry> e;
  e.reserve(static_cast<size_t>(2 * n * k));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t t = 0; t < k; ++t) {
      const int64_t j = nbr[i * k + t];
      const float p = P[i * k + t];
      LF_CHECK(j >= 0 && j < n, "tsne_symmetrize: indices[", i, ", ", t, "] = ", j,
               " is out of range [0, ", n, ")");
      LF_CHECK(j != i, "tsne_symmetrize: indices[", i, ", ", t, "] = ", i,
               " is the row itself (self-neighbours are not allowed)");
      LF_CHECK(std::isfinite(p), "tsne_symmetrize: P_cond[", i, ", ", t, "] is NaN or Inf");
      for (int64_t u = 0; u < t; ++u) {
        LF_CHECK(nbr[i * k + u] != j, "tsne_symmetrize: row ", i, " of indices lists neighbour ", j,
                 " more than once");
      }
      e.push_back({i, j, p});
      e.push_back({j, i, p});
    }
  }
  std::stable_sort(e.begin(), e.end(), [](const Entry& a, const Entry& b) {
    return a.row != b.row ? a.row < b.row : a.col < b.col;
  });
  out->indptr.assign(static_cast<size_t>(n) + 1, 0);
  out->indices.clear();
  out->data.clear();
  const double scale = 2.0 * static_cast<double>(n);
  for (size_t a = 0; a < e.size();) {
    size_t b = a;
    double sum = 0.0;
    for (; b < e.size() && e[b].row == e[a].row && e[b].col == e[a].col; ++b) sum += e[b].p;
    out->indices.push_back(e[a].col);
    out->data.push_back(static_cast<float>(sum / scale));
    ++out->indptr[static_cast<size_t>(e[a].row) + 1];
    a = b;
  }
  for (int64_t i = 0; i < n; ++i) out->indptr[i + 1] += out->indptr[i];
}

}  // namespace lf
