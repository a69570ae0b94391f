// CPU t-SNE gradients, exact and Barnes-Hut (see ops/tsne_bh.h).
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"
#include "ops/tsne_bh.h"
#include "ops/tsne_bh_quad_tree.h"

namespace lf {

namespace {

void check_common(const float* Y, int64_t n, double exaggeration, const char* who) {
  LF_CHECK(n >= 2, who, ": need at least 2 points, got n = ", n);
  LF_CHECK(std::isfinite(exaggeration), who, ": exaggeration must be finite, got ", exaggeration);
  for (int64_t i = 0; i < 2 * n; ++i) {
    LF_CHECK(std::isfinite(Y[i]), who, ": Y contains NaN or Inf (row ", i / 2, ")");
  }
}

// Per-point partial sums of both kernels: attr_i, rep_i (x, y), z_i; klrow_i = sum_j p_ij
// (log p_ij - log w_ij) over p_ij > 0 and prow_i = sum of those p_ij.
struct PointSums {
  std::vector<double> attr, rep, zrow, klrow, prow;
  explicit PointSums(size_t n) : attr(2 * n), rep(2 * n), zrow(n), klrow(n), prow(n) {}

  void store(int64_t i, double ax, double ay, double rx, double ry, double z, double kls,
             double ps) {
    const auto s = static_cast<size_t>(i);
    attr[2 * s] = ax;
    attr[2 * s + 1] = ay;
    rep[2 * s] = rx;
    rep[2 * s + 1] = ry;
    zrow[s] = z;
    klrow[s] = kls;
    prow[s] = ps;
  }

  // grad_i = 4 (exaggeration attr_i - rep_i / Z), reduced serially in index order; returns
  // kl = sum klrow + log Z * sum prow, or NaN when the KL was not asked for.
  double finish(float* grad, int64_t n, double exaggeration, bool compute_kl) const {
    double Z = 0.0, kls = 0.0, ps = 0.0;
    for (size_t i = 0; i < static_cast<size_t>(n); ++i) {
      Z += zrow[i];
      kls += klrow[i];
      ps += prow[i];
    }
    const double invZ = 1.0 / Z;  // Z > 0: every w_ij > 0 for finite Y and n >= 2
    for (size_t k = 0; k < 2 * static_cast<size_t>(n); ++k) {
      grad[k] = static_cast<float>(4.0 * (exaggeration * attr[k] - rep[k] * invZ));
    }
    return compute_kl ? kls + std::log(Z) * ps : std::numeric_limits<double>::quiet_NaN();
  }
};

}  // namespace

void check_tsne_csr(const int64_t* indptr, const int64_t* indices, const float* pvals, int64_t n,
                    int64_t nnz, const char* who) {
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

void tsne_gradient_exact_cpu(float* grad, double* kl, const float* Y, const float* P, int64_t n,
                             double exaggeration, bool compute_kl, int num_threads) {
  const char* who = "tsne_gradient_exact";
  check_common(Y, n, exaggeration, who);
  const int64_t bad =
      first_bad_row(P, n, n, num_threads, [](float v) { return std::isfinite(v) && v >= 0.0f; });
  LF_CHECK(bad < 0, who, ": P must be finite and >= 0 (row ", bad, ")");
  const auto N = static_cast<size_t>(n);
  PointSums sums(N);
  parallel_for_rows(n, n * 4, num_threads, [&](int64_t i) {
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
        if (compute_kl) kls += p * (std::log(p) - std::log(w));
        ps += p;
      }
    }
    sums.store(i, ax, ay, rx, ry, z, kls, ps);
  });
  *kl = sums.finish(grad, n, exaggeration, compute_kl);
}

void tsne_gradient_bh_cpu(float* grad, double* kl, const float* Y, const int64_t* indptr,
                          const int64_t* indices, const float* pvals, int64_t n, int64_t nnz,
                          double theta, double exaggeration, bool compute_kl, int num_threads) {
  const char* who = "tsne_gradient_bh";
  check_common(Y, n, exaggeration, who);
  LF_CHECK(std::isfinite(theta) && theta >= 0.0, who, ": theta must be finite and >= 0, got ",
           theta);
  check_tsne_csr(indptr, indices, pvals, n, nnz, who);

  const QuadTree tree(Y, n);
  const std::vector<QuadCell>& cells = tree.cells();
  const std::vector<int64_t>& next = tree.next();
  const double theta2 = theta * theta;

  const auto N = static_cast<size_t>(n);
  PointSums sums(N);
  parallel_for_rows(n, 256, num_threads, [&](int64_t i) {
    const double xi = Y[2 * i], yi = Y[2 * i + 1];
    // Attractive part (and KL terms), exact over the CSR row.
    double ax = 0, ay = 0, kls = 0, ps = 0;
    for (int64_t k = indptr[i]; k < indptr[i + 1]; ++k) {
      const int64_t j = indices[k];
      const double p = pvals[k];
      if (j == i || !(p > 0.0)) continue;
      const double dx = xi - Y[2 * j], dy = yi - Y[2 * j + 1];
      const double w = 1.0 / (1.0 + dx * dx + dy * dy);
      ax += p * w * dx;
      ay += p * w * dy;
      if (compute_kl) kls += p * (std::log(p) - std::log(w));
      ps += p;
    }
    // Repulsive part by traversal (depth-first, fixed child order: thread-independent).
    double rx = 0, ry = 0, z = 0;
    // The tree is at most kMaxDepth + 1 levels deep and a level leaves at most 3 siblings pending.
    int32_t stack[4 * (QuadTree::kMaxDepth + 2)];
    int top = 0;
    stack[top++] = 0;
    while (top > 0) {
      const QuadCell& c = cells[static_cast<size_t>(stack[--top])];
      if (c.count == 0) continue;
      const double side = 2.0 * c.hw;
      if (!c.contains(xi, yi)) {
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
        const int64_t f = c.first;
        const double dx = xi - Y[2 * f], dy = yi - Y[2 * f + 1];
        const bool self = dx == 0.0 && dy == 0.0;  // then i is one of them
        const double m = static_cast<double>(c.count - (self ? 1 : 0));
        const double w = 1.0 / (1.0 + dx * dx + dy * dy);
        z += m * w;
        rx += m * w * w * dx;
        ry += m * w * w * dy;
        continue;
      }
      for (int64_t j = c.first; j >= 0; j = next[static_cast<size_t>(j)]) {
        if (j == i) continue;
        const double dx = xi - Y[2 * j], dy = yi - Y[2 * j + 1];
        const double w = 1.0 / (1.0 + dx * dx + dy * dy);
        z += w;
        rx += w * w * dx;
        ry += w * w * dy;
      }
    }
    sums.store(i, ax, ay, rx, ry, z, kls, ps);
  });
  *kl = sums.finish(grad, n, exaggeration, compute_kl);
}

}  // namespace lf
