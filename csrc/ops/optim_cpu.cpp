// CPU optimizer steps: one fused, elementwise pass per parameter (see ops/optim.h for the
// formulas). The loops are written branch-free per element so that the compiler vectorises them
// with whatever SIMD the baseline ISA has; the work is memory-bound (2 to 4 float streams read
// and 2 to 4 written per element), so no hand-written SIMD variants are needed.
//
// There is no separate naive version: each kernel is already the obvious per-element formula,
// and the tests compare it with a float64 numpy implementation of the same rule.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "core/check.h"
#include "core/parallel.h"
#include "ops/optim.h"

namespace lf {

namespace {

inline float sign_of(float p) {
  return static_cast<float>(p > 0.0f) - static_cast<float>(p < 0.0f);
}

// The regularised gradient g + wd * p + l1 * sign(p). Reg is false when both are zero, so the
// plain rule reads exactly the gradient (as torch.optim does when weight_decay == 0).
template <bool Reg>
inline float reg_grad(float g, float p, float wd, float l1) {
  if constexpr (Reg) {
    return g + wd * p + l1 * sign_of(p);
  } else {
    return g;
  }
}

// Runs body<Reg>(lo, hi) over all blocks with Reg chosen once per call.
template <class Body>
void run(int64_t n, int num_threads, float wd, float l1, const Body& body) {
  if (wd != 0.0f || l1 != 0.0f) {
    parallel_for_blocks(n, num_threads,
                        [&](int64_t lo, int64_t hi) { body(std::true_type{}, lo, hi); });
  } else {
    parallel_for_blocks(n, num_threads,
                        [&](int64_t lo, int64_t hi) { body(std::false_type{}, lo, hi); });
  }
}

void check_common(const char* rule, int64_t n, float lr, float wd, float l1) {
  LF_CHECK(n >= 0, rule, ": negative size n=", n);
  LF_CHECK(std::isfinite(lr) && lr >= 0.0f, rule, ": lr must be finite and >= 0, got ", lr);
  LF_CHECK(std::isfinite(wd) && wd >= 0.0f, rule, ": weight_decay must be >= 0, got ", wd);
  LF_CHECK(std::isfinite(l1) && l1 >= 0.0f, rule, ": l1 must be >= 0, got ", l1);
}

void check_unit(const char* rule, const char* name, float v) {
  LF_CHECK(v >= 0.0f && v < 1.0f, rule, ": ", name, " must be in [0, 1), got ", v);
}

void check_eps(const char* rule, float eps) {
  LF_CHECK(std::isfinite(eps) && eps >= 0.0f, rule, ": eps must be finite and >= 0, got ", eps);
}

template <bool Nesterov>
void momentum_impl(const char* rule, float* param, float* buf, const float* grad, int64_t n,
                   float lr, float mu, float wd, float l1, int num_threads) {
  check_common(rule, n, lr, wd, l1);
  check_unit(rule, "momentum", mu);
  run(n, num_threads, wd, l1, [=](auto reg, int64_t lo, int64_t hi) {
    constexpr bool R = decltype(reg)::value;
    for (int64_t i = lo; i < hi; ++i) {
      const float p = param[i];
      const float g = reg_grad<R>(grad[i], p, wd, l1);
      const float b = mu * buf[i] + g;
      buf[i] = b;
      if constexpr (Nesterov) {
        param[i] = p - lr * (g + mu * b);
      } else {
        param[i] = p - lr * b;
      }
    }
  });
}

}  // namespace

void sgd_step_cpu(float* param, const float* grad, int64_t n, float lr, float weight_decay,
                  float l1, int num_threads) {
  check_common("sgd", n, lr, weight_decay, l1);
  const float wd = weight_decay;
  run(n, num_threads, wd, l1, [=](auto reg, int64_t lo, int64_t hi) {
    constexpr bool R = decltype(reg)::value;
    for (int64_t i = lo; i < hi; ++i) {
      const float p = param[i];
      param[i] = p - lr * reg_grad<R>(grad[i], p, wd, l1);
    }
  });
}

void momentum_step_cpu(float* param, float* momentum_buf, const float* grad, int64_t n, float lr,
                       float momentum, float weight_decay, float l1, int num_threads) {
  momentum_impl<false>("momentum", param, momentum_buf, grad, n, lr, momentum, weight_decay, l1,
                       num_threads);
}

void nesterov_step_cpu(float* param, float* momentum_buf, const float* grad, int64_t n, float lr,
                       float momentum, float weight_decay, float l1, int num_threads) {
  momentum_impl<true>("nesterov", param, momentum_buf, grad, n, lr, momentum, weight_decay, l1,
                      num_threads);
}

void adagrad_step_cpu(float* param, float* sum_sq, const float* grad, int64_t n, float lr,
                      float eps, float weight_decay, float l1, int num_threads) {
  check_common("adagrad", n, lr, weight_decay, l1);
  check_eps("adagrad", eps);
  const float wd = weight_decay;
  run(n, num_threads, wd, l1, [=](auto reg, int64_t lo, int64_t hi) {
    constexpr bool R = decltype(reg)::value;
    for (int64_t i = lo; i < hi; ++i) {
      const float p = param[i];
      const float g = reg_grad<R>(grad[i], p, wd, l1);
      const float s = sum_sq[i] + g * g;
      sum_sq[i] = s;
      param[i] = p - lr * g / (std::sqrt(s) + eps);
    }
  });
}

void rmsprop_step_cpu(float* param, float* square_avg, float* momentum_buf, const float* grad,
                      int64_t n, float lr, float alpha, float eps, float momentum,
                      float weight_decay, float l1, int num_threads) {
  check_common("rmsprop", n, lr, weight_decay, l1);
  check_unit("rmsprop", "alpha", alpha);
  check_unit("rmsprop", "momentum", momentum);
  check_eps("rmsprop", eps);
  LF_CHECK(momentum == 0.0f || momentum_buf != nullptr,
           "rmsprop: momentum > 0 needs a momentum buffer");
  const float wd = weight_decay, mu = momentum, one_m_alpha = 1.0f - alpha;
  if (mu == 0.0f) {
    run(n, num_threads, wd, l1, [=](auto reg, int64_t lo, int64_t hi) {
      constexpr bool R = decltype(reg)::value;
      for (int64_t i = lo; i < hi; ++i) {
        const float p = param[i];
        const float g = reg_grad<R>(grad[i], p, wd, l1);
        const float s = alpha * square_avg[i] + one_m_alpha * (g * g);
        square_avg[i] = s;
        param[i] = p - lr * g / (std::sqrt(s) + eps);
      }
    });
  } else {
    run(n, num_threads, wd, l1, [=](auto reg, int64_t lo, int64_t hi) {
      constexpr bool R = decltype(reg)::value;
      for (int64_t i = lo; i < hi; ++i) {
        const float p = param[i];
        const float g = reg_grad<R>(grad[i], p, wd, l1);
        const float s = alpha * square_avg[i] + one_m_alpha * (g * g);
        square_avg[i] = s;
        const float b = mu * momentum_buf[i] + g / (std::sqrt(s) + eps);
        momentum_buf[i] = b;
        param[i] = p - lr * b;
      }
    });
  }
}

void adam_step_cpu(float* param, float* exp_avg, float* exp_avg_sq, const float* grad, int64_t n,
                   int64_t step, float lr, float beta1, float beta2, float eps, float weight_decay,
                   float l1, int num_threads) {
  check_common("adam", n, lr, weight_decay, l1);
  check_unit("adam", "beta1", beta1);
  check_unit("adam", "beta2", beta2);
  check_eps("adam", eps);
  LF_CHECK(step >= 1, "adam: step must be >= 1 (the count including this update), got ", step);
  // Bias corrections in double (beta^t underflows gracefully to 0 for large t).
  const double bc1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step));
  const float step_size = static_cast<float>(static_cast<double>(lr) / bc1);
  const float inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(bc2));
  const float wd = weight_decay, one_m_b1 = 1.0f - beta1, one_m_b2 = 1.0f - beta2;
  run(n, num_threads, wd, l1, [=](auto reg, int64_t lo, int64_t hi) {
    constexpr bool R = decltype(reg)::value;
    for (int64_t i = lo; i < hi; ++i) {
      const float p = param[i];
      const float g = reg_grad<R>(grad[i], p, wd, l1);
      const float m = beta1 * exp_avg[i] + one_m_b1 * g;
      const float v = beta2 * exp_avg_sq[i] + one_m_b2 * (g * g);
      exp_avg[i] = m;
      exp_avg_sq[i] = v;
      param[i] = p - step_size * m / (std::sqrt(v) * inv_sqrt_bc2 + eps);
    }
  });
}

void adadelta_step_cpu(float* param, float* square_avg, float* acc_delta, const float* grad,
                       int64_t n, float lr, float rho, float eps, float weight_decay, float l1,
                       int num_threads) {
  check_common("adadelta", n, lr, weight_decay, l1);
  check_unit("adadelta", "rho", rho);
  check_eps("adadelta", eps);
  const float wd = weight_decay, one_m_rho = 1.0f - rho;
  run(n, num_threads, wd, l1, [=](auto reg, int64_t lo, int64_t hi) {
    constexpr bool R = decltype(reg)::value;
    for (int64_t i = lo; i < hi; ++i) {
      const float p = param[i];
      const float g = reg_grad<R>(grad[i], p, wd, l1);
      const float s = rho * square_avg[i] + one_m_rho * (g * g);
      square_avg[i] = s;
      const float dx = std::sqrt(acc_delta[i] + eps) / std::sqrt(s + eps) * g;
      acc_delta[i] = rho * acc_delta[i] + one_m_rho * (dx * dx);
      param[i] = p - lr * dx;
    }
  });
}

namespace {
// Sum of f(i) for i in [0, n): each f(i) runs on one thread (statically scheduled), so the work
// done for each i does not depend on the thread count.
template <typename F>
int64_t count_over(int64_t n, int num_threads, F&& f) {
  int64_t total = 0;
  if (num_threads <= 1) {
    for (int64_t i = 0; i < n; ++i) total += f(i);
    return total;
  }
#ifdef LF_WITH_OPENMP
#pragma omp parallel for num_threads(num_threads) schedule(static) reduction(+ : total)
#endif
  for (int64_t i = 0; i < n; ++i) total += f(i);
  return total;
}
}  // namespace

int64_t max_norm_columns_cpu(float* W, int64_t rows, int64_t cols, float max_norm,
                             int num_threads) {
  LF_CHECK(rows >= 0 && cols >= 0, "max_norm: negative shape (", rows, ", ", cols, ")");
  LF_CHECK(std::isfinite(max_norm) && max_norm > 0.0f,
           "max_norm: max_norm must be finite and > 0, got ", max_norm);
  if (rows == 0 || cols == 0) return 0;
  // Columns are processed in chunks of kCols; each chunk sweeps the rows in order (contiguous
  // reads within a row), so every column's norm is reduced in the same order by one thread.
  constexpr int64_t kCols = 256;
  const int64_t nchunks = (cols + kCols - 1) / kCols;
  const double c = static_cast<double>(max_norm);
  auto chunk = [&](int64_t ch) -> int64_t {
    const int64_t j0 = ch * kCols, j1 = std::min(cols, j0 + kCols), w = j1 - j0;
    double acc[kCols];
    float scale[kCols];
    std::fill(acc, acc + w, 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      const float* row = W + r * cols + j0;
      for (int64_t j = 0; j < w; ++j) {
        const double x = row[j];
        acc[j] += x * x;
      }
    }
    int64_t count = 0;
    for (int64_t j = 0; j < w; ++j) {
      const double norm = std::sqrt(acc[j]);
      scale[j] = 1.0f;
      if (norm > c) {
        scale[j] = static_cast<float>(c / norm);
        ++count;
      }
    }
    if (count == 0) return 0;
    for (int64_t r = 0; r < rows; ++r) {
      float* row = W + r * cols + j0;
      for (int64_t j = 0; j < w; ++j) row[j] *= scale[j];
    }
    return count;
  };
  const bool serial = num_threads <= 1 || nchunks == 1 || rows * cols < kSerialBelow;
  return count_over(nchunks, serial ? 1 : num_threads, chunk);
}

int64_t max_norm_rows_cpu(float* W, int64_t rows, int64_t cols, float max_norm, int num_threads) {
  LF_CHECK(rows >= 0 && cols >= 0, "max_norm: negative shape (", rows, ", ", cols, ")");
  LF_CHECK(std::isfinite(max_norm) && max_norm > 0.0f,
           "max_norm: max_norm must be finite and > 0, got ", max_norm);
  if (rows == 0 || cols == 0) return 0;
  const double c = static_cast<double>(max_norm);
  // One row per iteration: its norm is reduced in column order by one thread.
  auto row_step = [&](int64_t r) -> int64_t {
    float* row = W + r * cols;
    double acc = 0.0;
    for (int64_t j = 0; j < cols; ++j) acc += static_cast<double>(row[j]) * row[j];
    const double norm = std::sqrt(acc);
    if (!(norm > c)) return 0;
    const float scale = static_cast<float>(c / norm);
    for (int64_t j = 0; j < cols; ++j) row[j] *= scale;
    return 1;
  };
  const bool serial = num_threads <= 1 || rows == 1 || rows * cols < kSerialBelow;
  return count_over(rows, serial ? 1 : num_threads, row_step);
}

}  // namespace lf
