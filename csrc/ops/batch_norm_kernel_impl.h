// The batch-norm row kernels (ops/batch_norm_kernels.h), compiled once per ISA: include this in
// a translation unit that defines LF_BN_ISA_NAME (the table's isa string) and LF_BN_TABLE (the
// name of the function returning the table), inside no namespace. The code is plain C++ with
// GCC/Clang vector extensions: a 16-float vector is one zmm with AVX-512, two ymm with AVX2, and
// four xmm on baseline x86-64 (or NEON), always with the same lane arithmetic.
#include <cstdint>
#include <cstring>

#include "ops/batch_norm_kernels.h"

namespace lf::bn_detail {
namespace {

typedef float v16f __attribute__((vector_size(64)));
static_assert(sizeof(v16f) == kLanes * sizeof(float), "one vector holds the kLanes lanes");

inline v16f load(const float* p) {
  v16f v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline v16f splat(float x) { return v16f{} + x; }

// Lane l of v plus tail lane t[l], combined by the fixed tree (halves, quarters, ...).
inline float finish(v16f v, const float* t) {
  float a[kLanes];
  std::memcpy(a, &v, sizeof a);
  for (int l = 0; l < kLanes; ++l) a[l] += t[l];
  for (int s = kLanes / 2; s > 0; s >>= 1) {
    for (int l = 0; l < s; ++l) a[l] += a[l + s];
  }
  return a[0];
}

inline float chunk_sum(const float* p, int64_t len) {
  v16f a{};
  int64_t i = 0;
  for (; i + kLanes <= len; i += kLanes) a += load(p + i);
  float t[kLanes] = {};
  for (int l = 0; i + l < len; ++l) t[l] = p[i + l];
  return finish(a, t);
}

double row_sum(const float* p, int64_t n) {
  double s = 0.0;
  for (int64_t j = 0; j < n; j += kChunk) s += chunk_sum(p + j, n - j < kChunk ? n - j : kChunk);
  return s;
}

void row_moments(const float* p, int64_t n, float m, double& d1, double& d2) {
  const v16f mv = splat(m);
  for (int64_t j = 0; j < n; j += kChunk) {
    const int64_t len = n - j < kChunk ? n - j : kChunk;
    const float* q = p + j;
    v16f a{}, b{};
    int64_t i = 0;
    for (; i + kLanes <= len; i += kLanes) {
      const v16f d = load(q + i) - mv;
      a += d;
      b += d * d;
    }
    float ta[kLanes] = {}, tb[kLanes] = {};
    for (int l = 0; i + l < len; ++l) {
      const float d = q[i + l] - m;
      ta[l] = d;
      tb[l] = d * d;
    }
    d1 += finish(a, ta);
    d2 += finish(b, tb);
  }
}

void row_backward(const float* dy, const float* x, int64_t n, float m, double& sa, double& sb,
                  double& sr) {
  const v16f mv = splat(m);
  for (int64_t j = 0; j < n; j += kChunk) {
    const int64_t len = n - j < kChunk ? n - j : kChunk;
    const float* g = dy + j;
    const float* q = x + j;
    v16f a{}, b{}, r{};
    int64_t i = 0;
    for (; i + kLanes <= len; i += kLanes) {
      const v16f gv = load(g + i), d = load(q + i) - mv;
      a += gv;
      b += gv * d;
      r += d;
    }
    float ta[kLanes] = {}, tb[kLanes] = {}, tr[kLanes] = {};
    for (int l = 0; i + l < len; ++l) {
      const float gv = g[i + l], d = q[i + l] - m;
      ta[l] = gv;
      tb[l] = gv * d;
      tr[l] = d;
    }
    sa += finish(a, ta);
    sb += finish(b, tb);
    sr += finish(r, tr);
  }
}

void affine(float* y, const float* x, int64_t n, float hi, float lo, float scale, float beta) {
  for (int64_t j = 0; j < n; ++j) y[j] = ((x[j] - hi) - lo) * scale + beta;
}

void backward_train(float* dx, const float* dy, const float* x, int64_t n, float a, float b,
                    float m, float k) {
  for (int64_t j = 0; j < n; ++j) dx[j] = a * dy[j] + b * (x[j] - m) + k;
}

void scale(float* dx, const float* dy, int64_t n, float a) {
  for (int64_t j = 0; j < n; ++j) dx[j] = a * dy[j];
}

}  // namespace

const BnKernels& LF_BN_TABLE() {
  static const BnKernels k{LF_BN_ISA_NAME, row_sum,        row_moments, row_backward,
                           affine,         backward_train, scale};
  return k;
}

}  // namespace lf::bn_detail
