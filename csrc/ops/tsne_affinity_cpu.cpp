// CPU perplexity calibration for t-SNE (see ops/tsne_affinity.h).
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"
#include "ops/tsne_affinity.h"

namespace lf {

void tsne_perplexity_cpu(float* P, float* beta_out, const float* D, int64_t rows, int64_t k,
                         double perplexity, double tol, int max_iter, int num_threads) {
  tsne_perplexity_check(rows, k, perplexity, tol, max_iter);
  if (rows == 0) return;

  const int64_t bad =
      first_bad_row(D, rows, k, num_threads, [](float v) { return std::isfinite(v); });
  LF_CHECK(bad < 0, "tsne_perplexity: D contains NaN or Inf (row ", bad, ")");

  const double target = std::log(perplexity);
  const double inf = std::numeric_limits<double>::infinity();
  parallel_for_rows(rows, k * 32, num_threads, [&](int64_t r) {
    const float* dr = D + r * k;
    float* pr = P + r * k;
    thread_local std::vector<double> d, w;
    d.resize(static_cast<size_t>(k));
    w.resize(static_cast<size_t>(k));
    double dmin = dr[0];
    for (int64_t j = 1; j < k; ++j) dmin = std::fmin(dmin, static_cast<double>(dr[j]));
    double dsum = 0.0;
    for (int64_t j = 0; j < k; ++j) {
      d[j] = static_cast<double>(dr[j]) - dmin;  // >= 0, smallest is exactly 0
      dsum += d[j];
    }
    if (!(dsum > 0.0)) {  // all distances equal: uniform whatever beta
      const float u = static_cast<float>(1.0 / static_cast<double>(k));
      for (int64_t j = 0; j < k; ++j) pr[j] = u;
      beta_out[r] = 0.0f;
      return;
    }
    // Scale-invariant start: beta * mean(shifted distance) = 1.
    double beta = static_cast<double>(k) / dsum;
    double lo = 0.0, hi = inf, S = 0.0;
    for (int it = 0;; ++it) {
      S = 0.0;
      double SD = 0.0;
      for (int64_t j = 0; j < k; ++j) {
        const double e = std::exp(-beta * d[j]);  // the min term is exp(0) = 1, so S >= 1
        w[j] = e;
        S += e;
        SD += d[j] * e;
      }
      const double H = std::log(S) + beta * (SD / S);
      const double diff = H - target;
      if (std::fabs(diff) <= tol || it + 1 >= max_iter) break;
      if (diff > 0.0) {  // too flat: sharpen
        lo = beta;
        beta = std::isinf(hi) ? beta * 2.0 : 0.5 * (beta + hi);
      } else {
        hi = beta;
        beta = 0.5 * (beta + lo);
      }
    }
    const double invS = 1.0 / S;
    for (int64_t j = 0; j < k; ++j) pr[j] = static_cast<float>(w[j] * invS);
    beta_out[r] = static_cast<float>(beta);
  });
}

}  // namespace lf
