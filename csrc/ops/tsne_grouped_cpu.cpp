// Grouped Barnes-Hut t-SNE gradient (see ops/tsne_grouped.h).
#include "ops/tsne_grouped.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <type_traits>
#include <vector>

#ifdef LF_WITH_OPENMP
#include <omp.h>
#endif

#include "core/check.h"
#include "core/cpu_features.h"
#include "core/parallel.h"
#include "ops/tsne_bh.h"
#include "ops/tsne_grouped_kernels.h"

namespace lf {

namespace {

// Bit b of v moves to bit 2b.
inline uint32_t spread16(uint32_t v) {
  v &= 0xFFFFu;
  v = (v | (v << 8)) & 0x00FF00FFu;
  v = (v | (v << 4)) & 0x0F0F0F0Fu;
  v = (v | (v << 2)) & 0x33333333u;
  v = (v | (v << 1)) & 0x55555555u;
  return v;
}

int thread_id() {
#ifdef LF_WITH_OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

}  // namespace

TsneBarnesHut::TsneBarnesHut(const int64_t* indptr, const int64_t* indices, const float* pvals,
                             int64_t n, int64_t nnz)
    : n_(n) {
  const char* who = "TsneBarnesHut";
  LF_CHECK(n >= 2, who, ": need at least 2 points, got n = ", n);
  LF_CHECK(n < (int64_t{1} << 30), who, ": at most 2^30 - 1 points, got n = ", n);
  check_tsne_csr(indptr, indices, pvals, n, nnz, who);
  // Copy without the diagonal (ignored by definition), indices as int32.
  indptr_.resize(static_cast<size_t>(n) + 1);
  indices_.reserve(static_cast<size_t>(nnz));
  pvals_.reserve(static_cast<size_t>(nnz));
  indptr_[0] = 0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = indptr[i]; k < indptr[i + 1]; ++k) {
      if (indices[k] == i) continue;
      indices_.push_back(static_cast<int32_t>(indices[k]));
      pvals_.push_back(pvals[k]);
    }
    indptr_[static_cast<size_t>(i) + 1] = static_cast<int64_t>(indices_.size());
  }
  for (const float p : pvals_) {
    if (p > 0.0f) {
      plogp_ += static_cast<double>(p) * std::log(static_cast<double>(p));
      psum_ += p;
    }
  }
  perm_.resize(static_cast<size_t>(n));
  inv_.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    perm_[static_cast<size_t>(i)] = inv_[static_cast<size_t>(i)] = static_cast<int32_t>(i);
}

int64_t TsneBarnesHut::nbytes() const {
  auto b = [](const auto& v) { return static_cast<int64_t>(v.capacity() * sizeof(v[0])); };
  int64_t total = b(indptr_) + b(indices_) + b(pvals_) + b(perm_) + b(inv_) + b(yp_) + b(codes_) +
                  b(codes_tmp_) + b(order_) + b(order_tmp_) + b(xs_) + b(ys_) + b(psx_) + b(psy_) +
                  b(nodes_) + b(groups_) + b(z_) + b(rx_) + b(ry_) + b(attr_) + b(klrow_) +
                  b(y32_) + b(grad32_);
  for (const auto& l : lists_) total += b(l);
  return total;
}

void TsneBarnesHut::build_tree(const float* Y) {
  const int64_t n = n_;
  const auto N = static_cast<size_t>(n);
  // Bounding square and Morton codes.
  float x0 = Y[0], x1 = Y[0], y0 = Y[1], y1 = Y[1];
  for (int64_t i = 1; i < n; ++i) {
    x0 = std::min(x0, Y[2 * i]);
    x1 = std::max(x1, Y[2 * i]);
    y0 = std::min(y0, Y[2 * i + 1]);
    y1 = std::max(y1, Y[2 * i + 1]);
  }
  double side = std::max(static_cast<double>(x1) - x0, static_cast<double>(y1) - y0);
  if (!(side > 0.0)) side = 1.0;  // all points identical
  constexpr double kGrid = 65536.0;
  const double scale = kGrid / side;
  codes_.resize(N);
  codes_tmp_.resize(N);
  order_.resize(N);
  order_tmp_.resize(N);
  for (int64_t i = 0; i < n; ++i) {
    const double qx = std::floor((static_cast<double>(Y[2 * i]) - x0) * scale);
    const double qy = std::floor((static_cast<double>(Y[2 * i + 1]) - y0) * scale);
    const auto ux = static_cast<uint32_t>(std::clamp(qx, 0.0, kGrid - 1.0));
    const auto uy = static_cast<uint32_t>(std::clamp(qy, 0.0, kGrid - 1.0));
    codes_[static_cast<size_t>(i)] = spread16(ux) | (spread16(uy) << 1);
    order_[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  }
  // Stable LSD radix sort on (code, index): 3 passes of 11 bits.
  {
    constexpr int kBits = 11;
    constexpr uint32_t kBuckets = 1u << kBits;
    std::vector<int64_t> count(kBuckets);
    for (int pass = 0; pass < 3; ++pass) {
      const int shift = pass * kBits;
      std::fill(count.begin(), count.end(), 0);
      for (size_t i = 0; i < N; ++i) ++count[(codes_[i] >> shift) & (kBuckets - 1)];
      if (count[(codes_[0] >> shift) & (kBuckets - 1)] == n) continue;  // one bucket: no-op
      int64_t sum = 0;
      for (auto& c : count) {
        const int64_t t = c;
        c = sum;
        sum += t;
      }
      for (size_t i = 0; i < N; ++i) {
        const auto d = static_cast<size_t>(count[(codes_[i] >> shift) & (kBuckets - 1)]++);
        codes_tmp_[d] = codes_[i];
        order_tmp_[d] = order_[i];
      }
      codes_.swap(codes_tmp_);
      order_.swap(order_tmp_);
    }
  }
  xs_.resize(N);
  ys_.resize(N);
  psx_.resize(N + 1);
  psy_.resize(N + 1);
  psx_[0] = psy_[0] = 0.0;
  for (size_t p = 0; p < N; ++p) {
    const auto i = static_cast<size_t>(order_[p]);
    xs_[p] = Y[2 * i];
    ys_[p] = Y[2 * i + 1];
    psx_[p + 1] = psx_[p] + xs_[p];
    psy_[p + 1] = psy_[p] + ys_[p];
  }
  // Cells, breadth first: children of a cell are contiguous. level[] and grouped[] per node.
  nodes_.clear();
  groups_.clear();
  std::vector<uint8_t> level, grouped;
  auto add_node = [&](int32_t b, int32_t e, float cell_side, int lv, bool in_group) {
    Node c{};
    c.begin = b;
    c.end = e;
    c.side = cell_side;
    c.mass = static_cast<float>(e - b);
    c.comx =
        static_cast<float>((psx_[static_cast<size_t>(e)] - psx_[static_cast<size_t>(b)]) / (e - b));
    c.comy =
        static_cast<float>((psy_[static_cast<size_t>(e)] - psy_[static_cast<size_t>(b)]) / (e - b));
    c.child = -1;
    c.nchild = 0;
    nodes_.push_back(c);
    level.push_back(static_cast<uint8_t>(lv));
    grouped.push_back(in_group ? 1 : 0);
  };
  add_node(0, static_cast<int32_t>(n), static_cast<float>(side), 0, false);
  for (size_t id = 0; id < nodes_.size(); ++id) {
    const int32_t b = nodes_[id].begin, e = nodes_[id].end;
    const int lv = level[id];
    const bool split = e - b > kLeafSize && lv < kLevels;
    bool in_group = grouped[id] != 0;
    if (!in_group && (e - b <= kGroupSize || !split)) {
      groups_.push_back(static_cast<int32_t>(id));
      in_group = true;
    }
    if (!split) continue;
    const int shift = 2 * (kLevels - 1 - lv);
    const float child_side = 0.5f * nodes_[id].side;
    int32_t lo = b;
    const auto first_child = static_cast<int32_t>(nodes_.size());
    int32_t nchild = 0;
    for (uint32_t q = 0; q < 4; ++q) {
      // Codes in [lo, e) share the cell's prefix and are sorted: quadrants are runs.
      const auto* it = std::partition_point(codes_.data() + lo, codes_.data() + e,
                                            [&](uint32_t c) { return ((c >> shift) & 3u) <= q; });
      const auto hi = static_cast<int32_t>(it - codes_.data());
      if (hi > lo) {
        add_node(lo, hi, child_side, lv + 1, in_group);
        ++nchild;
      }
      lo = hi;
    }
    nodes_[id].child = first_child;
    nodes_[id].nchild = nchild;
  }
  // Tight bounding boxes, bottom up (children were created after their parents).
  for (size_t id = nodes_.size(); id-- > 0;) {
    Node& c = nodes_[id];
    if (c.nchild == 0) {
      float lx = xs_[static_cast<size_t>(c.begin)], hx = lx;
      float ly = ys_[static_cast<size_t>(c.begin)], hy = ly;
      for (int32_t p = c.begin + 1; p < c.end; ++p) {
        lx = std::min(lx, xs_[static_cast<size_t>(p)]);
        hx = std::max(hx, xs_[static_cast<size_t>(p)]);
        ly = std::min(ly, ys_[static_cast<size_t>(p)]);
        hy = std::max(hy, ys_[static_cast<size_t>(p)]);
      }
      c.lox = lx, c.hix = hx, c.loy = ly, c.hiy = hy;
    } else {
      const Node& f = nodes_[static_cast<size_t>(c.child)];
      c.lox = f.lox, c.hix = f.hix, c.loy = f.loy, c.hiy = f.hiy;
      for (int32_t k = 1; k < c.nchild; ++k) {
        const Node& d = nodes_[static_cast<size_t>(c.child + k)];
        c.lox = std::min(c.lox, d.lox);
        c.hix = std::max(c.hix, d.hix);
        c.loy = std::min(c.loy, d.loy);
        c.hiy = std::max(c.hiy, d.hiy);
      }
    }
  }
}

void TsneBarnesHut::repulsion(double theta, int num_threads) {
  const auto& kt = tsne_detail::tsne_kernels_for(active_isa());
  const auto N = static_cast<size_t>(n_);
  z_.resize(N);
  rx_.resize(N);
  ry_.resize(N);
  const int nt = std::max(1, num_threads);
  if (lists_.size() < static_cast<size_t>(nt)) lists_.resize(static_cast<size_t>(nt));
  const float theta2 = static_cast<float>(theta * theta);
  const auto ng = static_cast<int64_t>(groups_.size());
  int64_t interactions = 0;
  // A list holds each point at most once and each cell at most once: cap entries suffice.
  const int64_t cap = (n_ + static_cast<int64_t>(nodes_.size()) + 2 * tsne_detail::kListPad) /
                      tsne_detail::kListPad * tsne_detail::kListPad;
  for (int t = 0; t < nt; ++t) lists_[static_cast<size_t>(t)].resize(static_cast<size_t>(3 * cap));
  auto run_group = [&](int64_t g, std::vector<float>& list) -> int64_t {
    const Node& grp = nodes_[static_cast<size_t>(groups_[static_cast<size_t>(g)])];
    float* sx = list.data();
    float* sy = sx + cap;
    float* sm = sy + cap;
    // The group's own points first, in order (the kernel skips entry t for target t); the
    // walk then skips the group's cell.
    const int32_t gid = groups_[static_cast<size_t>(g)];
    int64_t m = 0;
    for (int32_t p = grp.begin; p < grp.end; ++p, ++m) {
      sx[m] = xs_[static_cast<size_t>(p)];
      sy[m] = ys_[static_cast<size_t>(p)];
      sm[m] = 1.0f;
    }
    int32_t stack[4 * (kLevels + 2)];
    int top = 0;
    stack[top++] = 0;
    while (top > 0) {
      const int32_t id = stack[--top];
      if (id == gid) continue;
      const Node& c = nodes_[static_cast<size_t>(id)];
      const bool disjoint =
          c.lox > grp.hix || c.hix < grp.lox || c.loy > grp.hiy || c.hiy < grp.loy;
      if (disjoint) {
        const float dx = std::max({grp.lox - c.comx, 0.0f, c.comx - grp.hix});
        const float dy = std::max({grp.loy - c.comy, 0.0f, c.comy - grp.hiy});
        if (c.side * c.side < theta2 * (dx * dx + dy * dy)) {
          sx[m] = c.comx;
          sy[m] = c.comy;
          sm[m] = c.mass;
          ++m;
          continue;
        }
      }
      if (c.nchild == 0) {
        for (int32_t p = c.begin; p < c.end; ++p, ++m) {
          sx[m] = xs_[static_cast<size_t>(p)];
          sy[m] = ys_[static_cast<size_t>(p)];
          sm[m] = 1.0f;
        }
        continue;
      }
      for (int32_t k = c.nchild - 1; k >= 0; --k) stack[top++] = c.child + k;
    }
    const int64_t mp =
        (m + tsne_detail::kListPad - 1) / tsne_detail::kListPad * tsne_detail::kListPad;
    for (int64_t j = m; j < mp; ++j) sx[j] = sy[j] = sm[j] = 0.0f;  // massless padding
    const auto b = static_cast<size_t>(grp.begin);
    const int64_t cnt = grp.end - grp.begin;
    kt.repulse(sx, sy, sm, mp, xs_.data() + b, ys_.data() + b, cnt, z_.data() + b, rx_.data() + b,
               ry_.data() + b);
    return m * cnt;
  };
  if (nt <= 1 || n_ < 2048) {
    for (int64_t g = 0; g < ng; ++g) interactions += run_group(g, lists_[0]);
  } else {
#ifdef LF_WITH_OPENMP
#pragma omp parallel for num_threads(nt) schedule(dynamic, 4) reduction(+ : interactions)
#endif
    for (int64_t g = 0; g < ng; ++g) {
      interactions += run_group(g, lists_[static_cast<size_t>(thread_id())]);
    }
  }
  last_interactions_ = interactions;
}

void TsneBarnesHut::relabel(const std::vector<int32_t>& new_perm, int num_threads) {
  const int64_t n = n_;
  const auto N = static_cast<size_t>(n);
  std::vector<int32_t> new_inv(N), map(N);
  for (size_t r = 0; r < N; ++r)
    new_inv[static_cast<size_t>(new_perm[r])] = static_cast<int32_t>(r);
  for (size_t c = 0; c < N; ++c)
    map[c] = new_inv[static_cast<size_t>(perm_[c])];  // old label -> new
  std::vector<int64_t> ip(N + 1);
  ip[0] = 0;
  for (size_t r = 0; r < N; ++r) {
    const auto c = static_cast<size_t>(inv_[static_cast<size_t>(new_perm[r])]);
    ip[r + 1] = ip[r] + (indptr_[c + 1] - indptr_[c]);
  }
  std::vector<int32_t> ix(indices_.size());
  std::vector<float> pv(pvals_.size());
  parallel_for_rows(n, 128, num_threads, [&](int64_t r) {
    const auto c = static_cast<size_t>(inv_[static_cast<size_t>(new_perm[static_cast<size_t>(r)])]);
    int64_t d = ip[static_cast<size_t>(r)];
    for (int64_t k = indptr_[c]; k < indptr_[c + 1]; ++k, ++d) {
      ix[static_cast<size_t>(d)] = map[static_cast<size_t>(indices_[static_cast<size_t>(k)])];
      pv[static_cast<size_t>(d)] = pvals_[static_cast<size_t>(k)];
    }
  });
  indptr_.swap(ip);
  indices_.swap(ix);
  pvals_.swap(pv);
  perm_ = new_perm;
  inv_.swap(new_inv);
}

void TsneBarnesHut::check_args(double theta, double exaggeration, const char* who) const {
  LF_CHECK(std::isfinite(theta) && theta >= 0.0, who, ": theta must be finite and >= 0, got ",
           theta);
  LF_CHECK(std::isfinite(exaggeration), who, ": exaggeration must be finite, got ", exaggeration);
}

double TsneBarnesHut::gradient(float* grad, const float* Y, double theta, double exaggeration,
                               bool compute_kl, int num_threads) {
  const char* who = "TsneBarnesHut.gradient";
  check_args(theta, exaggeration, who);
  for (int64_t i = 0; i < 2 * n_; ++i) {
    LF_CHECK(std::isfinite(Y[i]), who, ": Y contains NaN or Inf (row ", i / 2, ")");
  }
  return compute(grad, Y, theta, exaggeration, compute_kl, num_threads);
}

double TsneBarnesHut::compute(float* grad, const float* Y, double theta, double exaggeration,
                              bool compute_kl, int num_threads) {
  const int64_t n = n_;
  using clock = std::chrono::steady_clock;
  const auto N = static_cast<size_t>(n);
  attr_.resize(2 * N);
  klrow_.resize(N);
  yp_.resize(2 * N);
  const float* yp = yp_.data();
  // Attraction: a plain loop (on AMD Zen 4, AVX-512 and AVX2 versions that gather or copy the
  // neighbours' coordinates were 15-25% slower: the cost is the random access to Y). With the
  // KL, the same pass adds sum_j p_ij log(1 + d_ij^2) = -sum_j p_ij log w_ij per row (in
  // double); sum p log p and sum p are constants of P (constructor).
  auto attract_row = [&](auto with_kl, int64_t r) {
    const float xi = yp[2 * r], yi = yp[2 * r + 1];
    float ax = 0.0f, ay = 0.0f;
    double kls = 0.0;
    const int64_t end = indptr_[static_cast<size_t>(r) + 1];
    for (int64_t k = indptr_[static_cast<size_t>(r)]; k < end; ++k) {
      const int64_t j = indices_[static_cast<size_t>(k)];
      const float dx = xi - yp[2 * j], dy = yi - yp[2 * j + 1];
      const float d2 = dx * dx + dy * dy;
      const float p = pvals_[static_cast<size_t>(k)];
      const float pw = p / (1.0f + d2);
      ax += pw * dx;
      ay += pw * dy;
      if constexpr (decltype(with_kl)::value) {  // in double: the KL is compared to 1e-7
        const double ex = static_cast<double>(xi) - yp[2 * j];
        const double ey = static_cast<double>(yi) - yp[2 * j + 1];
        kls += p * std::log1p(ex * ex + ey * ey);
      }
    }
    const auto i = static_cast<size_t>(perm_[static_cast<size_t>(r)]);
    attr_[2 * i] = ax;
    attr_[2 * i + 1] = ay;
    if constexpr (decltype(with_kl)::value) klrow_[i] = kls;
  };
  constexpr int64_t kRows = 256;  // attraction rows per work item
  const int64_t nb = (n + kRows - 1) / kRows;
  auto attract_block = [&](int64_t b) {
    const int64_t r1 = std::min(n, (b + 1) * kRows);
    for (int64_t r = b * kRows; r < r1; ++r) {
      if (compute_kl) {
        attract_row(std::true_type{}, r);
      } else {
        attract_row(std::false_type{}, r);
      }
    }
  };
  auto fill_yp = [&] {
    for (size_t r = 0; r < N; ++r) {
      const auto i = static_cast<size_t>(perm_[r]);
      yp_[2 * r] = Y[2 * i];
      yp_[2 * r + 1] = Y[2 * i + 1];
    }
  };

  const auto t0 = clock::now();
  double tree_seconds = 0.0;
  const bool relabel_now = calls_since_relabel_ < 0 || calls_since_relabel_ >= kRelabelEvery;
  bool overlapped = false;
#ifdef LF_WITH_OPENMP
  overlapped = !relabel_now && num_threads > 1 && n >= 2048;
  if (overlapped) {
    // The attraction does not need the tree: one thread builds it while the others start on the
    // attraction rows, and joins them when done (rows are independent: any split, same bits).
    fill_yp();
    std::exception_ptr error;
#pragma omp parallel num_threads(num_threads)
    {
#pragma omp single nowait
      {
        try {
          const auto tb = clock::now();
          build_tree(Y);
          tree_seconds = std::chrono::duration<double>(clock::now() - tb).count();
        } catch (...) {
          error = std::current_exception();
        }
      }
#pragma omp for schedule(dynamic, 1) nowait
      for (int64_t b = 0; b < nb; ++b) attract_block(b);
    }
    if (error) std::rethrow_exception(error);
  }
#endif
  if (!overlapped) {
    build_tree(Y);
    tree_seconds = std::chrono::duration<double>(clock::now() - t0).count();
    if (relabel_now) {
      relabel(order_, num_threads);
      calls_since_relabel_ = 0;
    }
    fill_yp();
    if (num_threads <= 1 || n < 2048) {
      for (int64_t b = 0; b < nb; ++b) attract_block(b);
    } else {
#ifdef LF_WITH_OPENMP
#pragma omp parallel for num_threads(num_threads) schedule(static)
#endif
      for (int64_t b = 0; b < nb; ++b) attract_block(b);
    }
  }
  ++calls_since_relabel_;
  const auto t2 = clock::now();
  repulsion(theta, num_threads);
  const auto t3 = clock::now();
  // Tree and attraction overlap on most calls: their times are reported as measured (the tree
  // by its thread, the attraction as the rest of that phase's wall time).
  const double phase = std::chrono::duration<double>(t2 - t0).count();
  last_timings_ = {tree_seconds, std::chrono::duration<double>(t3 - t2).count(),
                   overlapped ? phase : phase - tree_seconds};
  double Z = 0.0;
  for (size_t p = 0; p < N; ++p) Z += z_[p];
  // Z > 0 for finite Y and n >= 2 unless every w underflows (|y_i - y_j| > 1e19 for all pairs).
  Z = std::max(Z, std::numeric_limits<double>::min());
  const double invZ = 1.0 / Z;
  for (size_t p = 0; p < N; ++p) {
    const auto i = static_cast<size_t>(order_[p]);
    grad[2 * i] = static_cast<float>(4.0 * (exaggeration * attr_[2 * i] - rx_[p] * invZ));
    grad[2 * i + 1] = static_cast<float>(4.0 * (exaggeration * attr_[2 * i + 1] - ry_[p] * invZ));
  }
  if (!compute_kl) return std::numeric_limits<double>::quiet_NaN();
  double kls = 0.0;
  for (size_t i = 0; i < N; ++i) kls += klrow_[i];
  // KL = sum p log p - sum p log w + log Z sum p   (sums over the stored p > 0)
  return plogp_ + kls + std::log(Z) * psum_;
}

TsneBarnesHut::StepResult TsneBarnesHut::step(double* Y, double* update, double* gains,
                                              double theta, double exaggeration, double momentum,
                                              double learning_rate, double min_gain,
                                              bool compute_kl, int num_threads) {
  check_args(theta, exaggeration, "TsneBarnesHut.step");
  const auto M = static_cast<size_t>(2 * n_);
  y32_.resize(M);
  grad32_.resize(M);
  bool y_finite = true;
  for (size_t k = 0; k < M; ++k) {
    y32_[k] = static_cast<float>(Y[k]);
    y_finite &= std::isfinite(y32_[k]);
  }
  // A diverged embedding (beyond float32) is reported like a non-finite gradient.
  if (!y_finite) return {std::numeric_limits<double>::quiet_NaN(), false};
  const double kl =
      compute(grad32_.data(), y32_.data(), theta, exaggeration, compute_kl, num_threads);
  for (size_t k = 0; k < M; ++k) {
    if (!std::isfinite(grad32_[k])) return {kl, false};
  }
  for (size_t k = 0; k < M; ++k) {
    const double g = grad32_[k];
    double gk = update[k] * g < 0.0 ? gains[k] + 0.2 : gains[k] * 0.8;
    gk = std::max(gk, min_gain);
    gains[k] = gk;
    const double u = update[k] * momentum - (learning_rate * gk) * g;
    update[k] = u;
    Y[k] += u;
  }
  return {kl, true};
}

}  // namespace lf
