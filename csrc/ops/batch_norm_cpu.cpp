// CPU batch normalisation (see ops/batch_norm.h): the naive references and the optimized kernels.
//
// Two layouts of the work, picked from the shape alone (never from the thread count):
//   - rows (HW >= kRowPathMinHW, e.g. NCHW feature maps): one channel per task, its N rows of HW
//     contiguous floats. Each pass over a channel sums fixed chunks of kChunk floats of a row in
//     kLanes float lanes (combined by a fixed tree), and adds the chunk sums into a double in row
//     order. A channel's passes run back to back on one thread, so after the first pass its data
//     is served from the cache. The row kernels are compiled per ISA (ops/batch_norm_kernels.h)
//     with the same operations in the same order, so the bits do not depend on the ISA either.
//   - columns (small HW, e.g. (N, C) inputs): fixed blocks of channels, i.e. of contiguous columns
//     of the (N, C * HW) matrix; every column accumulates in double over the rows in order
//     (vectorised across columns), then a channel adds its HW columns in order.
// Either way the order of every reduction is a function of the shape, so the results are bitwise
// independent of the thread count.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/check.h"
#include "core/cpu_features.h"
#include "core/parallel.h"
#include "ops/batch_norm.h"
#include "ops/batch_norm_kernels.h"

namespace lf {

namespace {

using bn_detail::BnKernels;

constexpr int64_t kRowPathMinHW = 32;
constexpr int64_t kColumnBlock = 256;  // columns per task in the column layout (about)

void check_common(int64_t N, int64_t C, int64_t HW, const char* who) {
  LF_CHECK(N >= 0 && C >= 0 && HW >= 0, who, ": negative shape (N=", N, ", C=", C, ", HW=", HW,
           ")");
}

void check_train(int64_t N, int64_t C, int64_t HW, const char* who) {
  check_common(N, C, HW, who);
  LF_CHECK(C == 0 || N * HW >= 2, who,
           ": expected more than 1 value per channel when training, got N=", N, " x HW=", HW);
}

void check_eps(double eps, const char* who) {
  LF_CHECK(std::isfinite(eps) && eps > 0.0, who, ": eps must be a finite number > 0, got ", eps);
}

void check_momentum(double momentum, const char* who) {
  LF_CHECK(momentum >= 0.0 && momentum <= 1.0, who, ": momentum must be in [0, 1], got ", momentum);
}

// ------------------------------------------------------------------ per-channel coefficients
struct ForwardCoef {
  float hi, lo, scale, beta;  // y = ((x - hi) - lo) * scale + beta, mean = hi + lo
};

// From the second pass's sums d1 = sum(x - m0), d2 = sum((x - m0)^2) over cnt values: writes the
// saved statistics and the running estimates of channel c, returns the affine map of the output.
ForwardCoef finish_forward(int64_t c, float m0, double d1, double d2, int64_t cnt, float* mean,
                           float* invstd, float* running_mean, float* running_var,
                           const float* gamma, const float* beta, double momentum, double eps) {
  const double n = static_cast<double>(cnt);
  const double r = d1 / n;
  const double var = std::max(d2 / n - r * r, 0.0);
  const double mu = static_cast<double>(m0) + r;
  const double is = 1.0 / std::sqrt(var + eps);
  mean[c] = static_cast<float>(mu);
  invstd[c] = static_cast<float>(is);
  if (running_mean) {
    running_mean[c] = static_cast<float>((1.0 - momentum) * running_mean[c] + momentum * mu);
  }
  if (running_var) {
    running_var[c] =
        static_cast<float>((1.0 - momentum) * running_var[c] + momentum * var * n / (n - 1.0));
  }
  ForwardCoef f;
  f.hi = static_cast<float>(mu);
  f.lo = static_cast<float>(mu - static_cast<double>(f.hi));
  f.scale = static_cast<float>(is * (gamma ? static_cast<double>(gamma[c]) : 1.0));
  f.beta = beta ? beta[c] : 0.0f;
  return f;
}

struct BackwardCoef {
  float m, a, b, k;  // dx = a * dy + b * (x - m) + k
};

// From sa = sum(dy), sb = sum(dy * (x - m)), sr = sum(x - m) over cnt values.
BackwardCoef finish_backward(int64_t c, double sa, double sb, double sr, int64_t cnt,
                             const float* mean, const float* invstd, const float* gamma,
                             float* dgamma, float* dbeta, bool training) {
  const double n = static_cast<double>(cnt);
  const double is = invstd[c];
  const double g = gamma ? static_cast<double>(gamma[c]) : 1.0;
  const double r = training ? sr / n : 0.0;  // the mean's rounding residual (training only)
  const double sxh = is * (sb - r * sa);     // sum(dy * xhat)
  if (dgamma) dgamma[c] = static_cast<float>(sxh);
  if (dbeta) dbeta[c] = static_cast<float>(sa);
  BackwardCoef k{mean[c], static_cast<float>(g * is), 0.0f, 0.0f};
  if (training) {
    const double a = g * is, b = -a * is * sxh / n;
    k.b = static_cast<float>(b);
    k.k = static_cast<float>(-a * sa / n - b * r);
  }
  return k;
}

// ------------------------------------------------------------------ rows layout (large HW)
struct Shape {
  int64_t N, C, HW;
  int64_t stride() const { return C * HW; }
  int64_t count() const { return N * HW; }
};

// A channel's passes, on the row kernels of the active ISA (ops/batch_norm_kernels.h: the same
// operations in the same order on every ISA).
void forward_train_rows(const BnKernels& kn, int64_t c, const Shape& s, float* y, float* mean,
                        float* invstd, float* running_mean, float* running_var, const float* x,
                        const float* gamma, const float* beta, double momentum, double eps) {
  const int64_t HW = s.HW, st = s.stride();
  const float* xc = x + c * HW;
  double s1 = 0.0;
  for (int64_t i = 0; i < s.N; ++i) s1 += kn.row_sum(xc + i * st, HW);
  const float m0 = static_cast<float>(s1 / static_cast<double>(s.count()));
  double d1 = 0.0, d2 = 0.0;
  for (int64_t i = 0; i < s.N; ++i) kn.row_moments(xc + i * st, HW, m0, d1, d2);
  const ForwardCoef f = finish_forward(c, m0, d1, d2, s.count(), mean, invstd, running_mean,
                                       running_var, gamma, beta, momentum, eps);
  for (int64_t i = 0; i < s.N; ++i) {
    kn.affine(y + c * HW + i * st, xc + i * st, HW, f.hi, f.lo, f.scale, f.beta);
  }
}

void backward_rows(const BnKernels& kn, int64_t c, const Shape& s, float* dx, float* dgamma,
                   float* dbeta, const float* dy, const float* x, const float* mean,
                   const float* invstd, const float* gamma, bool training) {
  const int64_t HW = s.HW, st = s.stride(), off = c * HW;
  const float m = mean[c];
  double sa = 0.0, sb = 0.0, sr = 0.0;
  if (training || dgamma || dbeta) {
    for (int64_t i = 0; i < s.N; ++i) {
      kn.row_backward(dy + off + i * st, x + off + i * st, HW, m, sa, sb, sr);
    }
  }
  const BackwardCoef k =
      finish_backward(c, sa, sb, sr, s.count(), mean, invstd, gamma, dgamma, dbeta, training);
  for (int64_t i = 0; i < s.N; ++i) {
    const int64_t o = off + i * st;
    if (training) {
      kn.backward_train(dx + o, dy + o, x + o, HW, k.a, k.b, k.m, k.k);
    } else {
      kn.scale(dx + o, dy + o, HW, k.a);
    }
  }
}

// ------------------------------------------------------------------ columns layout (small HW)
int64_t channels_per_block(int64_t HW) { return std::max<int64_t>(1, kColumnBlock / HW); }

void forward_train_columns(int64_t blk, const Shape& s, float* y, float* mean, float* invstd,
                           float* running_mean, float* running_var, const float* x,
                           const float* gamma, const float* beta, double momentum, double eps) {
  const int64_t cb = channels_per_block(s.HW), HW = s.HW, st = s.stride();
  const int64_t c0 = blk * cb, c1 = std::min(s.C, c0 + cb), W = (c1 - c0) * HW, off = c0 * HW;
  std::vector<double> a(static_cast<size_t>(W), 0.0), b(static_cast<size_t>(W), 0.0);
  std::vector<float> hi(static_cast<size_t>(W)), lo(static_cast<size_t>(W)),
      sc(static_cast<size_t>(W)), be(static_cast<size_t>(W));
  double* A = a.data();
  double* B = b.data();
  for (int64_t i = 0; i < s.N; ++i) {
    const float* p = x + off + i * st;
    for (int64_t w = 0; w < W; ++w) A[w] += p[w];
  }
  const double n = static_cast<double>(s.count());
  for (int64_t c = c0; c < c1; ++c) {
    double t = 0.0;
    for (int64_t j = 0; j < HW; ++j) t += A[(c - c0) * HW + j];
    const float m0 = static_cast<float>(t / n);
    for (int64_t j = 0; j < HW; ++j) hi[static_cast<size_t>((c - c0) * HW + j)] = m0;
  }
  std::fill(a.begin(), a.end(), 0.0);
  const float* H = hi.data();
  for (int64_t i = 0; i < s.N; ++i) {
    const float* p = x + off + i * st;
    for (int64_t w = 0; w < W; ++w) {
      const float d = p[w] - H[w];
      A[w] += d;
      B[w] += static_cast<double>(d) * d;
    }
  }
  for (int64_t c = c0; c < c1; ++c) {
    double d1 = 0.0, d2 = 0.0;
    for (int64_t j = 0; j < HW; ++j) {
      d1 += A[(c - c0) * HW + j];
      d2 += B[(c - c0) * HW + j];
    }
    const ForwardCoef f =
        finish_forward(c, hi[static_cast<size_t>((c - c0) * HW)], d1, d2, s.count(), mean, invstd,
                       running_mean, running_var, gamma, beta, momentum, eps);
    for (int64_t j = 0; j < HW; ++j) {
      const auto w = static_cast<size_t>((c - c0) * HW + j);
      hi[w] = f.hi;
      lo[w] = f.lo;
      sc[w] = f.scale;
      be[w] = f.beta;
    }
  }
  const float *L = lo.data(), *S = sc.data(), *E = be.data();
  for (int64_t i = 0; i < s.N; ++i) {
    const float* p = x + off + i * st;
    float* q = y + off + i * st;
    for (int64_t w = 0; w < W; ++w) q[w] = ((p[w] - H[w]) - L[w]) * S[w] + E[w];
  }
}

void backward_columns(int64_t blk, const Shape& s, float* dx, float* dgamma, float* dbeta,
                      const float* dy, const float* x, const float* mean, const float* invstd,
                      const float* gamma, bool training) {
  const int64_t cb = channels_per_block(s.HW), HW = s.HW, st = s.stride();
  const int64_t c0 = blk * cb, c1 = std::min(s.C, c0 + cb), W = (c1 - c0) * HW, off = c0 * HW;
  const auto Ws = static_cast<size_t>(W);
  std::vector<double> va(Ws, 0.0), vb(Ws, 0.0), vr(Ws, 0.0);
  std::vector<float> vm(Ws), ca(Ws), cbv(Ws), ck(Ws);
  for (int64_t w = 0; w < W; ++w) vm[static_cast<size_t>(w)] = mean[c0 + w / HW];
  double *A = va.data(), *B = vb.data(), *R = vr.data();
  const float* M = vm.data();
  if (training || dgamma || dbeta) {
    for (int64_t i = 0; i < s.N; ++i) {
      const float* p = x + off + i * st;
      const float* g = dy + off + i * st;
      for (int64_t w = 0; w < W; ++w) {
        const float d = p[w] - M[w];
        A[w] += g[w];
        B[w] += static_cast<double>(g[w]) * d;
        R[w] += d;
      }
    }
  }
  for (int64_t c = c0; c < c1; ++c) {
    double sa = 0.0, sb = 0.0, sr = 0.0;
    for (int64_t j = 0; j < HW; ++j) {
      const int64_t w = (c - c0) * HW + j;
      sa += A[w];
      sb += B[w];
      sr += R[w];
    }
    const BackwardCoef k =
        finish_backward(c, sa, sb, sr, s.count(), mean, invstd, gamma, dgamma, dbeta, training);
    for (int64_t j = 0; j < HW; ++j) {
      const auto w = static_cast<size_t>((c - c0) * HW + j);
      ca[w] = k.a;
      cbv[w] = k.b;
      ck[w] = k.k;
    }
  }
  const float *Ka = ca.data(), *Kb = cbv.data(), *Kk = ck.data();
  for (int64_t i = 0; i < s.N; ++i) {
    const float* p = x + off + i * st;
    const float* g = dy + off + i * st;
    float* q = dx + off + i * st;
    if (training) {
      for (int64_t w = 0; w < W; ++w) q[w] = Ka[w] * g[w] + Kb[w] * (p[w] - M[w]) + Kk[w];
    } else {
      for (int64_t w = 0; w < W; ++w) q[w] = Ka[w] * g[w];
    }
  }
}

}  // namespace

// ====================================================================== optimized
void batch_norm_forward_train_cpu(float* y, float* mean, float* invstd, float* running_mean,
                                  float* running_var, const float* x, const float* gamma,
                                  const float* beta, int64_t N, int64_t C, int64_t HW,
                                  double momentum, double eps, int num_threads) {
  const char* who = "batch_norm_forward_train";
  check_train(N, C, HW, who);
  check_eps(eps, who);
  check_momentum(momentum, who);
  if (C == 0) return;
  const Shape s{N, C, HW};
  if (HW >= kRowPathMinHW) {
    const BnKernels& kn = bn_detail::bn_kernels_for(active_isa());
    parallel_for_rows(C, s.count(), num_threads, [&](int64_t c) {
      forward_train_rows(kn, c, s, y, mean, invstd, running_mean, running_var, x, gamma, beta,
                         momentum, eps);
    });
  } else {
    const int64_t cb = channels_per_block(HW), nb = (C + cb - 1) / cb;
    parallel_for_rows(nb, s.count() * cb, num_threads, [&](int64_t b) {
      forward_train_columns(b, s, y, mean, invstd, running_mean, running_var, x, gamma, beta,
                            momentum, eps);
    });
  }
}

void batch_norm_backward_cpu(float* dx, float* dgamma, float* dbeta, const float* dy,
                             const float* x, const float* mean, const float* invstd,
                             const float* gamma, int64_t N, int64_t C, int64_t HW, bool training,
                             int num_threads) {
  const char* who = "batch_norm_backward";
  if (training) {
    check_train(N, C, HW, who);
  } else {
    check_common(N, C, HW, who);
  }
  if (C == 0) return;
  const Shape s{N, C, HW};
  if (HW >= kRowPathMinHW) {
    const BnKernels& kn = bn_detail::bn_kernels_for(active_isa());
    parallel_for_rows(C, s.count(), num_threads, [&](int64_t c) {
      backward_rows(kn, c, s, dx, dgamma, dbeta, dy, x, mean, invstd, gamma, training);
    });
  } else {
    const int64_t cb = channels_per_block(HW), nb = (C + cb - 1) / cb;
    parallel_for_rows(nb, s.count() * cb, num_threads, [&](int64_t b) {
      backward_columns(b, s, dx, dgamma, dbeta, dy, x, mean, invstd, gamma, training);
    });
  }
}

void batch_norm_invstd(float* invstd, const float* var, int64_t C, double eps) {
  for (int64_t c = 0; c < C; ++c) {
    invstd[c] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(var[c]) + eps));
  }
}

void batch_norm_forward_eval_cpu(float* y, const float* x, const float* gamma, const float* beta,
                                 const float* mean, const float* var, int64_t N, int64_t C,
                                 int64_t HW, double eps, int num_threads) {
  const char* who = "batch_norm_forward_eval";
  check_common(N, C, HW, who);
  check_eps(eps, who);
  if (C == 0 || N == 0 || HW == 0) return;
  std::vector<float> sc(static_cast<size_t>(C)), be(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    const double is = 1.0 / std::sqrt(static_cast<double>(var[c]) + eps);
    sc[static_cast<size_t>(c)] = static_cast<float>(is * (gamma ? gamma[c] : 1.0));
    be[static_cast<size_t>(c)] = beta ? beta[c] : 0.0f;
  }
  const float *S = sc.data(), *E = be.data();
  parallel_for_rows(N, C * HW, num_threads, [&](int64_t i) {
    const float* p = x + i * C * HW;
    float* q = y + i * C * HW;
    if (HW == 1) {
      for (int64_t c = 0; c < C; ++c) q[c] = (p[c] - mean[c]) * S[c] + E[c];
      return;
    }
    for (int64_t c = 0; c < C; ++c) {
      const float m = mean[c], sv = S[c], bv = E[c];
      for (int64_t j = 0; j < HW; ++j) q[c * HW + j] = (p[c * HW + j] - m) * sv + bv;
    }
  });
}

// ====================================================================== naive references
void batch_norm_forward_train_naive(float* y, float* mean, float* invstd, float* running_mean,
                                    float* running_var, const float* x, const float* gamma,
                                    const float* beta, int64_t N, int64_t C, int64_t HW,
                                    double momentum, double eps) {
  const char* who = "batch_norm_forward_train";
  check_train(N, C, HW, who);
  check_eps(eps, who);
  check_momentum(momentum, who);
  const double n = static_cast<double>(N * HW);
  for (int64_t c = 0; c < C; ++c) {
    double sum = 0.0;
    for (int64_t i = 0; i < N; ++i) {
      for (int64_t j = 0; j < HW; ++j) sum += x[(i * C + c) * HW + j];
    }
    const double mu = sum / n;
    double sq = 0.0;
    for (int64_t i = 0; i < N; ++i) {
      for (int64_t j = 0; j < HW; ++j) {
        const double d = x[(i * C + c) * HW + j] - mu;
        sq += d * d;
      }
    }
    const double var = sq / n;
    const double is = 1.0 / std::sqrt(var + eps);
    const double g = gamma ? gamma[c] : 1.0, b = beta ? beta[c] : 0.0;
    for (int64_t i = 0; i < N; ++i) {
      for (int64_t j = 0; j < HW; ++j) {
        const int64_t k = (i * C + c) * HW + j;
        y[k] = static_cast<float>((x[k] - mu) * is * g + b);
      }
    }
    mean[c] = static_cast<float>(mu);
    invstd[c] = static_cast<float>(is);
    if (running_mean) {
      running_mean[c] = static_cast<float>((1.0 - momentum) * running_mean[c] + momentum * mu);
    }
    if (running_var) {
      running_var[c] =
          static_cast<float>((1.0 - momentum) * running_var[c] + momentum * var * n / (n - 1.0));
    }
  }
}

void batch_norm_backward_naive(float* dx, float* dgamma, float* dbeta, const float* dy,
                               const float* x, const float* mean, const float* invstd,
                               const float* gamma, int64_t N, int64_t C, int64_t HW,
                               bool training) {
  const char* who = "batch_norm_backward";
  if (training) {
    check_train(N, C, HW, who);
  } else {
    check_common(N, C, HW, who);
  }
  const double n = static_cast<double>(N * HW);
  for (int64_t c = 0; c < C; ++c) {
    double mu = mean[c];
    if (training) {  // the exact batch mean (the saved one is its float32 rounding)
      double sum = 0.0;
      for (int64_t i = 0; i < N; ++i) {
        for (int64_t j = 0; j < HW; ++j) sum += x[(i * C + c) * HW + j];
      }
      mu = sum / n;
    }
    const double is = invstd[c], g = gamma ? gamma[c] : 1.0;
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    for (int64_t i = 0; i < N; ++i) {
      for (int64_t j = 0; j < HW; ++j) {
        const int64_t k = (i * C + c) * HW + j;
        sum_dy += dy[k];
        sum_dy_xhat += dy[k] * ((x[k] - mu) * is);
      }
    }
    for (int64_t i = 0; i < N; ++i) {
      for (int64_t j = 0; j < HW; ++j) {
        const int64_t k = (i * C + c) * HW + j;
        const double dxhat = dy[k] * g;
        if (training) {
          const double xhat = (x[k] - mu) * is;
          dx[k] = static_cast<float>(is / n * (n * dxhat - g * sum_dy - xhat * g * sum_dy_xhat));
        } else {
          dx[k] = static_cast<float>(dxhat * is);
        }
      }
    }
    if (dgamma) dgamma[c] = static_cast<float>(sum_dy_xhat);
    if (dbeta) dbeta[c] = static_cast<float>(sum_dy);
  }
}

}  // namespace lf
