// CPU elementwise activations and row softmax (see ops/elementwise.h).
//
// The transcendental work (sigmoid/tanh/exp) goes through the runtime-selected math table
// (core/vec_math.h), the one the GEMM epilogue uses, so values equal those of a fused Linear. The
// backward formulas are plain per-element loops that the compiler vectorizes for the baseline ISA;
// they are memory-bound.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"
#include "core/vec_math.h"
#include "ops/elementwise.h"

namespace lf {

namespace {

// sum(a[0:n] * b[0:n]) (b == nullptr: sum(a)) with 8 double partial sums in a fixed order.
double dot_or_sum(const float* a, const float* b, int64_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  if (b) {
    for (; j + 8 <= n; j += 8)
      for (int l = 0; l < 8; ++l) acc[l] += static_cast<double>(a[j + l]) * b[j + l];
    for (; j < n; ++j) acc[0] += static_cast<double>(a[j]) * b[j];
  } else {
    for (; j + 8 <= n; j += 8)
      for (int l = 0; l < 8; ++l) acc[l] += a[j + l];
    for (; j < n; ++j) acc[0] += a[j];
  }
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

void check_act(Activation act) {
  const int a = static_cast<int>(act);
  LF_CHECK(activation_valid(a), "activation code must be 0..3, got ", a);
}

}  // namespace

void activation_forward_cpu(float* y, const float* x, int64_t n, Activation act, int num_threads) {
  check_act(act);
  LF_CHECK(n >= 0, "activation_forward: n must be >= 0, got ", n);
  if (n == 0) return;
  const auto& vm = simd::vec_math();
  parallel_for_blocks(n, num_threads, [&](int64_t lo, int64_t hi) {
    const int64_t len = hi - lo;
    if (y != x) std::memcpy(y + lo, x + lo, static_cast<size_t>(len) * sizeof(float));
    // A chunk is a 1 x len block.
    if (act != Activation::none) vm.bias_activation(y + lo, len, 1, len, nullptr, act);
  });
}

void activation_backward_cpu(float* dx, const float* dy, const float* y, int64_t n, Activation act,
                             int num_threads) {
  check_act(act);
  LF_CHECK(n >= 0, "activation_backward: n must be >= 0, got ", n);
  if (n == 0) return;
  parallel_for_blocks(n, num_threads, [&](int64_t lo, int64_t hi) {
    switch (act) {
      case Activation::sigmoid:
        for (int64_t i = lo; i < hi; ++i) dx[i] = dy[i] * (y[i] * (1.0f - y[i]));
        break;
      case Activation::tanh:
        for (int64_t i = lo; i < hi; ++i) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
        break;
      case Activation::relu:
        for (int64_t i = lo; i < hi; ++i) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
        break;
      default:
        if (dx != dy) std::memcpy(dx + lo, dy + lo, static_cast<size_t>(hi - lo) * sizeof(float));
        break;
    }
  });
}

void softmax_rows_cpu(float* y, const float* x, int64_t rows, int64_t cols, int num_threads) {
  LF_CHECK(rows >= 0 && cols >= 0, "softmax_rows: negative shape (", rows, ", ", cols, ")");
  if (rows == 0 || cols == 0) return;
  const auto& vm = simd::vec_math();
  parallel_for_rows(rows, cols, num_threads, [&](int64_t r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    // Row max; a NaN anywhere makes the max NaN (and with it the whole row).
    float mx = -std::numeric_limits<float>::infinity();
    bool nan = false;
    for (int64_t j = 0; j < cols; ++j) {
      mx = xr[j] > mx ? xr[j] : mx;
      nan |= xr[j] != xr[j];
    }
    if (nan) mx = std::numeric_limits<float>::quiet_NaN();
    // An all -inf row: numpy gives NaN (-inf - -inf); keep that.
    for (int64_t j = 0; j < cols; ++j) yr[j] = xr[j] - mx;
    vm.exp_inplace(yr, cols);
    const double s = dot_or_sum(yr, nullptr, cols);
    const float inv = static_cast<float>(1.0 / s);
    for (int64_t j = 0; j < cols; ++j) yr[j] *= inv;
  });
}

void activation_forward_naive(float* y, const float* x, int64_t n, Activation act) {
  check_act(act);
  LF_CHECK(n >= 0, "activation_forward: n must be >= 0, got ", n);
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    double r = v;
    switch (act) {
      case Activation::sigmoid: r = 1.0 / (1.0 + std::exp(-v)); break;
      case Activation::tanh: r = std::tanh(v); break;
      case Activation::relu: r = v < 0.0 ? 0.0 : v; break;  // NaN passes through
      default: break;
    }
    y[i] = static_cast<float>(r);
  }
}

void softmax_rows_naive(float* y, const float* x, int64_t rows, int64_t cols) {
  LF_CHECK(rows >= 0 && cols >= 0, "softmax_rows: negative shape (", rows, ", ", cols, ")");
  std::vector<double> e(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    double mx = -std::numeric_limits<double>::infinity();
    bool nan = false;
    for (int64_t j = 0; j < cols; ++j) {
      mx = std::max(mx, static_cast<double>(xr[j]));
      nan |= std::isnan(xr[j]);
    }
    if (nan) mx = std::numeric_limits<double>::quiet_NaN();
    double s = 0.0;
    for (int64_t j = 0; j < cols; ++j) s += e[static_cast<size_t>(j)] = std::exp(xr[j] - mx);
    for (int64_t j = 0; j < cols; ++j)
      y[r * cols + j] = static_cast<float>(e[static_cast<size_t>(j)] / s);
  }
}

void softmax_rows_backward_cpu(float* dx, const float* dy, const float* y, int64_t rows,
                               int64_t cols, int num_threads) {
  LF_CHECK(rows >= 0 && cols >= 0, "softmax_rows_backward: negative shape (", rows, ", ", cols,
           ")");
  if (rows == 0 || cols == 0) return;
  parallel_for_rows(rows, cols, num_threads, [&](int64_t r) {
    const float* dyr = dy + r * cols;
    const float* yr = y + r * cols;
    float* dxr = dx + r * cols;
    const float s = static_cast<float>(dot_or_sum(dyr, yr, cols));
    for (int64_t j = 0; j < cols; ++j) dxr[j] = yr[j] * (dyr[j] - s);
  });
}

}  // namespace lf
