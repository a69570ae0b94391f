// CPU kernels of RBM Gibbs sampling and free energy (see ops/rbm_gibbs.h).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/check.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "core/vec_math.h"
#include "ops/rbm_gibbs.h"

namespace lf {

namespace {

// Philox draws for [lo, hi) of a call, i.e. global indices offset + lo ... (mod 2^64).
inline void draws(float* u, int64_t lo, int64_t hi, uint64_t seed, uint64_t stream,
                  uint64_t offset) {
  uniform01_fill(u, hi - lo, seed, stream, offset + static_cast<uint64_t>(lo));
}

// s[i] = u[i] < p[i] ? 1 : 0, with u already stored in s (in place).
inline void threshold(float* s, const float* p, int64_t len) {
  for (int64_t i = 0; i < len; ++i) s[i] = s[i] < p[i] ? 1.0f : 0.0f;
}

}  // namespace

void sigmoid_bernoulli_cpu(float* p, float* s, const float* z, int64_t n, uint64_t seed,
                           uint64_t stream, uint64_t offset, int num_threads) {
  LF_CHECK(n >= 0, "sigmoid_bernoulli: n must be >= 0, got ", n);
  if (n == 0) return;
  const auto& vm = simd::vec_math();
  parallel_for_blocks(n, num_threads, [&](int64_t lo, int64_t hi) {
    const int64_t len = hi - lo;
    if (p != z) std::memcpy(p + lo, z + lo, static_cast<size_t>(len) * sizeof(float));
    vm.bias_activation(p + lo, len, 1, len, nullptr, Activation::sigmoid);  // a 1 x len block
    draws(s + lo, lo, hi, seed, stream, offset);
    threshold(s + lo, p + lo, len);
  });
}

void sigmoid_bernoulli_naive(float* p, float* s, const float* z, int64_t n, uint64_t seed,
                             uint64_t stream, uint64_t offset) {
  LF_CHECK(n >= 0, "sigmoid_bernoulli: n must be >= 0, got ", n);
  for (int64_t i = 0; i < n; ++i) {
    p[i] = static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(z[i]))));
    s[i] = uniform01(seed, stream, offset + static_cast<uint64_t>(i)) < p[i] ? 1.0f : 0.0f;
  }
}

void bernoulli_cpu(float* s, const float* p, int64_t n, uint64_t seed, uint64_t stream,
                   uint64_t offset, int num_threads) {
  LF_CHECK(n >= 0, "bernoulli: n must be >= 0, got ", n);
  if (n == 0) return;
  // Validate first (serially, so the throw happens outside any parallel region).
  for (int64_t i = 0; i < n; ++i) {
    LF_CHECK(p[i] >= 0.0f && p[i] <= 1.0f, "bernoulli: probabilities must lie in [0, 1], got p[", i,
             "] = ", p[i]);
  }
  if (s == p) {
    // In place: draws go through a per-block buffer so that p is read before it is overwritten.
    parallel_for_blocks(n, num_threads, [&](int64_t lo, int64_t hi) {
      float u[kParallelBlock];
      draws(u, lo, hi, seed, stream, offset);
      for (int64_t i = lo; i < hi; ++i) s[i] = u[i - lo] < p[i] ? 1.0f : 0.0f;
    });
    return;
  }
  parallel_for_blocks(n, num_threads, [&](int64_t lo, int64_t hi) {
    draws(s + lo, lo, hi, seed, stream, offset);
    threshold(s + lo, p + lo, hi - lo);
  });
}

void rbm_free_energy_cpu(float* F, const float* V, const float* b_v, const float* Z, int64_t rows,
                         int64_t n_visible, int64_t n_hidden, int num_threads) {
  LF_CHECK(rows >= 0 && n_visible >= 0 && n_hidden >= 0, "rbm_free_energy: negative shape (", rows,
           ", ", n_visible, ", ", n_hidden, ")");
  if (rows == 0) return;
  auto row = [&](int64_t r) {
    const float* v = V + r * n_visible;
    const float* z = Z + r * n_hidden;
    double vb = 0.0;
    for (int64_t j = 0; j < n_visible; ++j) vb += static_cast<double>(v[j]) * b_v[j];
    double sp = 0.0;
    for (int64_t j = 0; j < n_hidden; ++j) {
      const double x = z[j];
      sp += std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x)));
    }
    F[r] = static_cast<float>(-vb - sp);
  };
  parallel_for_rows(rows, n_visible + n_hidden, num_threads, row);
}

}  // namespace lf
