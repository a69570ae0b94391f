// CPU local contrast normalisation (contract in ops/local_contrast_norm2d.h): the optimized kernels
// (one sample per OpenMP task, separable window passes written as loops over the taps with the
// pixels innermost, so they vectorise) and the naive double references beside them.
//
// The optimized kernels do, per position, exactly the float32 operations of the CUDA kernels
// (ops/local_contrast_norm2d_cuda.cuh) in the same order; only the double sums of c and gc are
// ordered differently (row order here, a block tree there). Each sample is computed by one thread
// from start to end, so the results do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/parallel.h"
#include "ops/local_contrast_norm2d.h"

namespace lf {

namespace {

// The per-call geometry: taps and the separable window normalisers.
struct LcnGeom {
  int64_t C, H, W, HW, rr;
  std::vector<float> taps;  // a[0 .. 2 rr], offset p = i - rr
  std::vector<float> zc;    // (A_x * B_y) * C per position, A / B the in-bounds tap sums
  float eps;

  LcnGeom(int64_t C_, int64_t H_, int64_t W_, int64_t size, double sigma, double eps_)
      : C(C_),
        H(H_),
        W(W_),
        HW(H_ * W_),
        rr(lcn_radius(size, H_, W_)),
        taps(lcn_taps(size, sigma, H_, W_)),
        zc(static_cast<size_t>(H_ * W_)),
        eps(static_cast<float>(eps_)) {
    std::vector<float> A(static_cast<size_t>(H)), B(static_cast<size_t>(W));
    for (int64_t i = 0; i < H; ++i) A[static_cast<size_t>(i)] = tap_sum(i, H);
    for (int64_t j = 0; j < W; ++j) B[static_cast<size_t>(j)] = tap_sum(j, W);
    const float Cf = static_cast<float>(C);
    for (int64_t i = 0; i < H; ++i) {
      for (int64_t j = 0; j < W; ++j) {
        zc[static_cast<size_t>(i * W + j)] =
            (A[static_cast<size_t>(i)] * B[static_cast<size_t>(j)]) * Cf;
      }
    }
  }
  // Offsets p with 0 <= i + p < n (and |p| <= rr): [lo, hi].
  int64_t lo(int64_t i) const { return std::max(-rr, -i); }
  int64_t hi(int64_t i, int64_t n) const { return std::min(rr, n - 1 - i); }
  float tap_sum(int64_t i, int64_t n) const {
    float s = 0.0f;
    for (int64_t p = lo(i); p <= hi(i, n); ++p) s += taps[static_cast<size_t>(p + rr)];
    return s;
  }
};

// out = the horizontal window pass of in (H x W): out[x][y] = sum_q a_q in[x][y + q] over the
// in-bounds q in increasing order, from 0.
void hblur(float* out, const float* in, const LcnGeom& g) {
  const int64_t W = g.W;
  for (int64_t i = 0; i < g.H; ++i) {
    float* o = out + i * W;
    const float* s = in + i * W;
    for (int64_t j = 0; j < W; ++j) o[j] = 0.0f;
    for (int64_t q = -g.rr; q <= g.rr; ++q) {
      const float a = g.taps[static_cast<size_t>(q + g.rr)];
      const int64_t j0 = std::max<int64_t>(0, -q), j1 = std::min(W, W - q);
      for (int64_t j = j0; j < j1; ++j) o[j] += a * s[j + q];
    }
  }
}

// out = the vertical window pass of in: out[x][y] = sum_p a_p in[x + p][y], in-bounds p increasing.
void vblur(float* out, const float* in, const LcnGeom& g) {
  const int64_t W = g.W;
  for (int64_t i = 0; i < g.H; ++i) {
    float* o = out + i * W;
    for (int64_t j = 0; j < W; ++j) o[j] = 0.0f;
    for (int64_t p = g.lo(i); p <= g.hi(i, g.H); ++p) {
      const float a = g.taps[static_cast<size_t>(p + g.rr)];
      const float* s = in + (i + p) * W;
      for (int64_t j = 0; j < W; ++j) o[j] += a * s[j];
    }
  }
}

inline float select_d(float c, float s, float eps) {
  return (c >= s && c >= eps) ? c : (s >= eps ? s : eps);
}

void forward_sample(int64_t n, const LcnGeom& g, float* y, float* mean, float* sigma_map, float* c,
                    const float* x) {
  const int64_t HW = g.HW, C = g.C;
  const float* xs = x + n * C * HW;
  float* ys = y + n * C * HW;
  float* m = mean + n * HW;
  float* sg = sigma_map + n * HW;
  std::vector<float> buf(static_cast<size_t>(2 * HW));
  float* P = buf.data();
  float* T = P + HW;
  const float s = xs[0];
  for (int64_t i = 0; i < HW; ++i) P[i] = 0.0f;
  for (int64_t j = 0; j < C; ++j) {
    const float* xj = xs + j * HW;
    for (int64_t i = 0; i < HW; ++i) P[i] += xj[i] - s;
  }
  hblur(T, P, g);
  vblur(m, T, g);
  const float* zc = g.zc.data();
  for (int64_t i = 0; i < HW; ++i) m[i] = s + m[i] / zc[i];
  for (int64_t i = 0; i < HW; ++i) P[i] = 0.0f;  // Q = sum_j v^2
  for (int64_t j = 0; j < C; ++j) {
    const float* xj = xs + j * HW;
    for (int64_t i = 0; i < HW; ++i) {
      const float v = xj[i] - m[i];
      P[i] += v * v;
    }
  }
  hblur(T, P, g);
  vblur(sg, T, g);
  double total = 0.0;
  for (int64_t i = 0; i < HW; ++i) {
    sg[i] = std::sqrt(sg[i] / zc[i]);
    total += sg[i];
  }
  const float cn = static_cast<float>(total / static_cast<double>(HW));
  c[n] = cn;
  for (int64_t i = 0; i < HW; ++i) T[i] = select_d(cn, sg[i], g.eps);
  for (int64_t j = 0; j < C; ++j) {
    const float* xj = xs + j * HW;
    float* yj = ys + j * HW;
    for (int64_t i = 0; i < HW; ++i) yj[i] = (xj[i] - m[i]) / T[i];
  }
}

void backward_sample(int64_t n, const LcnGeom& g, float* dx, const float* dy, const float* x,
                     const float* mean, const float* sigma_map, const float* c) {
  const int64_t HW = g.HW, C = g.C;
  const float* xs = x + n * C * HW;
  const float* gs = dy + n * C * HW;
  float* dxs = dx + n * C * HW;
  const float* m = mean + n * HW;
  const float* sg = sigma_map + n * HW;
  const float cn = c[n];
  std::vector<float> buf(static_cast<size_t>(4 * HW));
  float* D = buf.data();
  float* G = D + HW;
  float* A = G + HW;
  float* T = A + HW;
  for (int64_t i = 0; i < HW; ++i) {
    D[i] = select_d(cn, sg[i], g.eps);
    G[i] = 0.0f;
  }
  for (int64_t j = 0; j < C; ++j) {
    const float* xj = xs + j * HW;
    const float* gj = gs + j * HW;
    for (int64_t i = 0; i < HW; ++i) G[i] += gj[i] * (xj[i] - m[i]);
  }
  double gc = 0.0;
  for (int64_t i = 0; i < HW; ++i) {
    G[i] = -(G[i] / (D[i] * D[i]));              // gd
    if (cn >= sg[i] && cn >= g.eps) gc += G[i];  // c selected
  }
  const float gc_hw = static_cast<float>(gc / static_cast<double>(HW));
  const float* zc = g.zc.data();
  for (int64_t i = 0; i < HW; ++i) {
    const bool by_c = cn >= sg[i] && cn >= g.eps;
    const float gsig = ((!by_c && sg[i] >= g.eps) ? G[i] : 0.0f) + gc_hw;
    const float gs2 = sg[i] > 0.0f ? gsig / (2.0f * sg[i]) : 0.0f;
    A[i] = gs2 / zc[i];
  }
  hblur(T, A, g);
  vblur(G, T, g);                                // R = M'[gs2] (G is free again)
  for (int64_t i = 0; i < HW; ++i) A[i] = 0.0f;  // gm
  for (int64_t j = 0; j < C; ++j) {
    const float* xj = xs + j * HW;
    const float* gj = gs + j * HW;
    float* dj = dxs + j * HW;
    for (int64_t i = 0; i < HW; ++i) {
      const float gv = gj[i] / D[i] + (2.0f * (xj[i] - m[i])) * G[i];
      dj[i] = gv;
      A[i] += gv;
    }
  }
  for (int64_t i = 0; i < HW; ++i) A[i] = -A[i] / zc[i];
  hblur(T, A, g);
  vblur(G, T, g);
  for (int64_t j = 0; j < C; ++j) {
    float* dj = dxs + j * HW;
    for (int64_t i = 0; i < HW; ++i) dj[i] += G[i];
  }
}

}  // namespace

// ====================================================================== optimized
void local_contrast_norm2d_forward_cpu(float* y, float* mean, float* sigma_map, float* c,
                                       const float* x, int64_t N, int64_t C, int64_t H, int64_t W,
                                       int64_t size, double sigma, double eps, int num_threads) {
  lcn_check_args(N, C, H, W, size, sigma, eps);
  if (N == 0) return;
  const LcnGeom g(C, H, W, size, sigma, eps);
  FirstError err;
  parallel_for_rows(N, C * H * W, num_threads, [&](int64_t n) {
    err.run([&] { forward_sample(n, g, y, mean, sigma_map, c, x); });
  });
  err.rethrow();
}

void local_contrast_norm2d_backward_cpu(float* dx, const float* dy, const float* x,
                                        const float* mean, const float* sigma_map, const float* c,
                                        int64_t N, int64_t C, int64_t H, int64_t W, int64_t size,
                                        double sigma, double eps, int num_threads) {
  lcn_check_args(N, C, H, W, size, sigma, eps);
  if (N == 0) return;
  const LcnGeom g(C, H, W, size, sigma, eps);
  FirstError err;
  parallel_for_rows(N, C * H * W, num_threads, [&](int64_t n) {
    err.run([&] { backward_sample(n, g, dx, dy, x, mean, sigma_map, c); });
  });
  err.rethrow();
}

// ====================================================================== naive references
namespace {

// The double quantities of one sample, by the obvious loops over the 2-D window.
struct NaiveSample {
  int64_t C, H, W, r;
  std::vector<double> g;  // g[p + r] = exp(-p^2 / (2 sigma^2)), the full window
  std::vector<double> Z;  // in-bounds weight sum per position (weights w_pq = g_p g_q / sum^2)
  double norm;            // (sum_p g_p)^2

  NaiveSample(int64_t C_, int64_t H_, int64_t W_, int64_t size, double sigma)
      : C(C_),
        H(H_),
        W(W_),
        r(size / 2),
        g(static_cast<size_t>(size)),
        Z(static_cast<size_t>(H_ * W_)) {
    double s = 0.0;
    for (int64_t p = -r; p <= r; ++p) {
      const double t = static_cast<double>(p) / sigma;
      g[static_cast<size_t>(p + r)] = std::exp(-0.5 * t * t);
      s += g[static_cast<size_t>(p + r)];
    }
    norm = s * s;
    for (int64_t i = 0; i < H; ++i) {
      for (int64_t j = 0; j < W; ++j) {
        double z = 0.0;
        for (int64_t p = -r; p <= r; ++p) {
          for (int64_t q = -r; q <= r; ++q) {
            if (in(i + p, j + q)) z += w(p, q);
          }
        }
        Z[static_cast<size_t>(i * W + j)] = z;
      }
    }
  }
  bool in(int64_t i, int64_t j) const { return i >= 0 && i < H && j >= 0 && j < W; }
  double w(int64_t p, int64_t q) const {
    return g[static_cast<size_t>(p + r)] * g[static_cast<size_t>(q + r)] / norm;
  }
  // out[i][j] = sum over maps k < K and the in-bounds window of w_pq f[k][i+p][j+q] / (C Z_ij).
  void average(double* out, const double* f, int64_t K) const {
    for (int64_t i = 0; i < H; ++i) {
      for (int64_t j = 0; j < W; ++j) {
        double acc = 0.0;
        for (int64_t k = 0; k < K; ++k) {
          for (int64_t p = -r; p <= r; ++p) {
            for (int64_t q = -r; q <= r; ++q) {
              if (in(i + p, j + q)) acc += w(p, q) * f[(k * H + i + p) * W + j + q];
            }
          }
        }
        out[i * W + j] = acc / (static_cast<double>(C) * Z[static_cast<size_t>(i * W + j)]);
      }
    }
  }
  // The adjoint of average() for one map: out[u][v] = sum over the positions (i, j) whose window
  // holds (u, v) of w_{u-i, v-j} f[i][j] / (C Z_ij) (scattered from each position).
  void average_adjoint(double* out, const double* f) const {
    for (int64_t k = 0; k < H * W; ++k) out[k] = 0.0;
    for (int64_t i = 0; i < H; ++i) {
      for (int64_t j = 0; j < W; ++j) {
        const double fz =
            f[i * W + j] / (static_cast<double>(C) * Z[static_cast<size_t>(i * W + j)]);
        for (int64_t p = -r; p <= r; ++p) {
          for (int64_t q = -r; q <= r; ++q) {
            if (in(i + p, j + q)) out[(i + p) * W + j + q] += w(p, q) * fz;
          }
        }
      }
    }
  }
};

// m, v, sigma, c, d and the selection (0: c, 1: sigma, 2: eps) of sample xs, in double.
struct NaiveStats {
  std::vector<double> m, v, s, d;
  std::vector<int> sel;
  double c = 0.0;
};

NaiveStats naive_stats(const NaiveSample& ns, const float* xs, double eps) {
  const int64_t C = ns.C, HW = ns.H * ns.W;
  NaiveStats st;
  std::vector<double> xd(static_cast<size_t>(C * HW));
  for (int64_t k = 0; k < C * HW; ++k) xd[static_cast<size_t>(k)] = xs[k];
  st.m.resize(static_cast<size_t>(HW));
  ns.average(st.m.data(), xd.data(), C);
  st.v.resize(static_cast<size_t>(C * HW));
  std::vector<double> v2(static_cast<size_t>(C * HW));
  for (int64_t j = 0; j < C; ++j) {
    for (int64_t i = 0; i < HW; ++i) {
      const double v = xd[static_cast<size_t>(j * HW + i)] - st.m[static_cast<size_t>(i)];
      st.v[static_cast<size_t>(j * HW + i)] = v;
      v2[static_cast<size_t>(j * HW + i)] = v * v;
    }
  }
  st.s.resize(static_cast<size_t>(HW));
  ns.average(st.s.data(), v2.data(), C);
  for (auto& s : st.s) s = std::sqrt(s);
  double total = 0.0;
  for (const double s : st.s) total += s;
  st.c = total / static_cast<double>(HW);
  st.d.resize(static_cast<size_t>(HW));
  st.sel.resize(static_cast<size_t>(HW));
  for (int64_t i = 0; i < HW; ++i) {
    const double s = st.s[static_cast<size_t>(i)];
    const int sel = (st.c >= s && st.c >= eps) ? 0 : (s >= eps ? 1 : 2);
    st.sel[static_cast<size_t>(i)] = sel;
    st.d[static_cast<size_t>(i)] = sel == 0 ? st.c : (sel == 1 ? s : eps);
  }
  return st;
}

}  // namespace

void local_contrast_norm2d_forward_naive(float* y, float* mean, float* sigma_map, float* c,
                                         const float* x, int64_t N, int64_t C, int64_t H, int64_t W,
                                         int64_t size, double sigma, double eps) {
  lcn_check_args(N, C, H, W, size, sigma, eps);
  if (N == 0) return;
  const NaiveSample ns(C, H, W, size, sigma);
  const int64_t HW = H * W;
  for (int64_t n = 0; n < N; ++n) {
    const NaiveStats st = naive_stats(ns, x + n * C * HW, eps);
    for (int64_t j = 0; j < C; ++j) {
      for (int64_t i = 0; i < HW; ++i) {
        y[(n * C + j) * HW + i] = static_cast<float>(st.v[static_cast<size_t>(j * HW + i)] /
                                                     st.d[static_cast<size_t>(i)]);
      }
    }
    for (int64_t i = 0; i < HW; ++i) {
      mean[n * HW + i] = static_cast<float>(st.m[static_cast<size_t>(i)]);
      sigma_map[n * HW + i] = static_cast<float>(st.s[static_cast<size_t>(i)]);
    }
    c[n] = static_cast<float>(st.c);
  }
}

void local_contrast_norm2d_backward_naive(float* dx, const float* dy, const float* x,
                                          const float* mean, const float* sigma_map, const float* c,
                                          int64_t N, int64_t C, int64_t H, int64_t W, int64_t size,
                                          double sigma, double eps) {
  lcn_check_args(N, C, H, W, size, sigma, eps);
  if (N == 0) return;
  const NaiveSample ns(C, H, W, size, sigma);
  const int64_t HW = H * W;
  std::vector<double> gd(static_cast<size_t>(HW)), gs2(static_cast<size_t>(HW)),
      R(static_cast<size_t>(HW)), gv(static_cast<size_t>(C * HW)), gm(static_cast<size_t>(HW)),
      Pm(static_cast<size_t>(HW));
  for (int64_t n = 0; n < N; ++n) {
    const NaiveStats st = naive_stats(ns, x + n * C * HW, eps);
    const float* g = dy + n * C * HW;
    double gc = 0.0;
    for (int64_t i = 0; i < HW; ++i) {
      double G = 0.0;
      for (int64_t j = 0; j < C; ++j) G += g[j * HW + i] * st.v[static_cast<size_t>(j * HW + i)];
      const double d = st.d[static_cast<size_t>(i)];
      gd[static_cast<size_t>(i)] = -G / (d * d);
      if (st.sel[static_cast<size_t>(i)] == 0) gc += gd[static_cast<size_t>(i)];
    }
    for (int64_t i = 0; i < HW; ++i) {
      const double s = st.s[static_cast<size_t>(i)];
      const double gsig = (st.sel[static_cast<size_t>(i)] == 1 ? gd[static_cast<size_t>(i)] : 0.0) +
                          gc / static_cast<double>(HW);
      gs2[static_cast<size_t>(i)] = s > 0.0 ? gsig / (2.0 * s) : 0.0;
    }
    ns.average_adjoint(R.data(), gs2.data());
    for (int64_t i = 0; i < HW; ++i) gm[static_cast<size_t>(i)] = 0.0;
    for (int64_t j = 0; j < C; ++j) {
      for (int64_t i = 0; i < HW; ++i) {
        const size_t k = static_cast<size_t>(j * HW + i);
        gv[k] = g[j * HW + i] / st.d[static_cast<size_t>(i)] +
                2.0 * st.v[k] * R[static_cast<size_t>(i)];
        gm[static_cast<size_t>(i)] -= gv[k];
      }
    }
    ns.average_adjoint(Pm.data(), gm.data());
    for (int64_t j = 0; j < C; ++j) {
      for (int64_t i = 0; i < HW; ++i) {
        dx[(n * C + j) * HW + i] =
            static_cast<float>(gv[static_cast<size_t>(j * HW + i)] + Pm[static_cast<size_t>(i)]);
      }
    }
  }
}

}  // namespace lf
