// CPU conv2d (contract in ops/conv2d.h): the naive 7-loop references and the implicit-GEMM
// kernels side by side.
//
// Optimized kernels. With K = C_in*kh*kw and P = OH*OW, one image's im2col matrix cols (K x P;
// row (ci, i, j), column (oh, ow)) turns the three passes into GEMMs on lf::gemm_forward_cpu:
//   forward           y_n (C_out x P)  = w (C_out x K) @ cols_n  (+ bias per row)
//   backward data     dcols_n (K x P)  = w^T @ dy_n, then col2im scatters dcols_n into dx_n
//   backward weights  dw (C_out x K)  += dy_chunk (C_out x nb*P) @ cols_chunk^T
// Images are processed in chunks of nb, where nb depends on the shapes only (the im2col buffer
// is bounded by kChunkFloats, 1 MiB, so it stays in L2), never on the thread count. Large
// images (nb = 1) run one GEMM per image straight into y / from dy; small ones (nb > 1, e.g.
// MNIST's 28x28 on one channel) put the chunk's images side by side in one wide GEMM (staging y
// or dy in a buffer). The weight GEMM runs transposed (dw^T = cols @ dy^T) when that tiles
// better (K = 25 of a 5x5 kernel on one channel).
// Stride-1 layers with a small K (<= 32) take a direct weight gradient instead (wgrad_direct
// below: contiguous dot products over zero-padded planes, no im2col).
// Threads: a per-image GEMM (64 x 256 x 576 for a 3x3 64 -> 64 16x16 layer) is too small to
// scale inside, so the chunks themselves run in parallel, each on one thread with its own
// scratch, calling the serial lf::gemm_forward_serial (no nested parallelism) and serial
// im2col/col2im (for_each_item). The weight gradient cuts the chunks into at most kMaxGroups
// groups (shapes only); each group accumulates its own partial dw on one thread, chunk by chunk,
// and dw is the sum of the partials in group order. With too few chunks for the threads, the
// chunks run in order and the GEMM and copies parallelize inside instead (the GEMM is
// thread-count independent, so this gives the same bits).
// im2col and the gathers are pure copies; col2im gives every dx element one writer that adds
// its contributions in a fixed (i, j, oh, ow) order; the bias gradient sums each channel over
// fixed 16-lane partitions combined in a fixed order. A 1x1 kernel with stride 1 and no padding
// needs no im2col at all (cols_n is x_n itself).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <vector>

#include "core/check.h"
#include "core/cpu_features.h"
#include "core/parallel.h"
#include "core/scratch.h"
#include "ops/conv2d.h"
#include "ops/conv2d_kernels.h"
#include "ops/gemm.h"

namespace lf {

namespace {

// Floats of im2col matrix per chunk of images (1 MiB): the matrix is written and then read once
// by the GEMM, so it should stay in L2. Measured on the 2-core AVX-512 VM (N = 128, 64 -> 64,
// 16x16, 3x3; one thread): 1 MiB 35-48 ms forward, 4 MiB 50-57 ms, 16 MiB 111-123 ms.
constexpr int64_t kChunkFloats = int64_t{1} << 18;

struct Geom {
  int64_t N, C_in, H, W, C_out, kh, kw, sh, sw, ph, pw, OH, OW;
  int64_t K() const { return C_in * kh * kw; }
  int64_t P() const { return OH * OW; }
  bool pointwise() const { return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }
};

Geom make_geom(int64_t N, int64_t C_in, int64_t H, int64_t W, int64_t C_out, int64_t kh, int64_t kw,
               int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  const Conv2dGeometry o = conv2d_check_args(N, C_in, H, W, C_out, kh, kw, sh, sw, ph, pw);
  return {N, C_in, H, W, C_out, kh, kw, sh, sw, ph, pw, o.OH, o.OW};
}

// Images per chunk: shapes only (never the thread count).
int64_t chunk_images(const Geom& g, int64_t floats_per_image) {
  const int64_t per = std::max<int64_t>(floats_per_image, 1);
  return std::clamp<int64_t>(kChunkFloats / per, 1, std::max<int64_t>(g.N, 1));
}

// Output columns [lo, hi) of a kernel tap at offset t (i or j) whose input index
// o*s - p + t lies in [0, n).
inline void valid_range(int64_t t, int64_t s, int64_t p, int64_t n, int64_t out, int64_t* lo,
                        int64_t* hi) {
  // o*s >= p - t  and  o*s <= n - 1 + p - t
  const int64_t a = p - t;
  *lo = a <= 0 ? 0 : (a + s - 1) / s;
  const int64_t b = n - 1 + p - t;
  *hi = b < 0 ? 0 : std::min(out, b / s + 1);
  if (*hi < *lo) *hi = *lo;
}

ScratchBuffer& scratch_pad() {  // zero-padded input planes of im2col_padded (calling thread)
  thread_local ScratchBuffer s;
  return s;
}

// im2col for stride 1 with padding: the chunk's planes are first copied into zero-padded
// (H + 2ph) x (W + 2pw) planes, so every row of cols is then a plain copy of OW floats (no
// bounds logic in the inner loop, which dominated for short rows such as 16x16 images).
void im2col_padded(float* cols, int64_t ld, const float* x, int64_t nb, const Geom& g, int nt) {
  const int64_t Hp = g.H + 2 * g.ph, Wp = g.W + 2 * g.pw, HpWp = Hp * Wp, HW = g.H * g.W;
  const int64_t K = g.K(), P = g.P(), OH = g.OH, OW = g.OW;
  float* xpad = scratch_pad().get(nb * g.C_in * HpWp);
  parallel_for_rows(nb * g.C_in, HpWp, nt, [&](int64_t plane) {
    float* __restrict d = xpad + plane * HpWp;
    const float* __restrict s = x + plane * HW;
    for (int64_t k = 0; k < g.ph * Wp; ++k) d[k] = 0.0f;
    for (int64_t h = 0; h < g.H; ++h) {
      float* __restrict row = d + (h + g.ph) * Wp;
      for (int64_t k = 0; k < g.pw; ++k) row[k] = 0.0f;
      for (int64_t k = 0; k < g.W; ++k) row[g.pw + k] = s[h * g.W + k];
      for (int64_t k = g.pw + g.W; k < Wp; ++k) row[k] = 0.0f;
    }
    for (int64_t k = (g.ph + g.H) * Wp; k < HpWp; ++k) d[k] = 0.0f;
  });
  parallel_for_rows(K * nb, P, nt, [&](int64_t item) {
    const int64_t r = item / nb, b = item % nb;
    const int64_t ci = r / (g.kh * g.kw), i = (r / g.kw) % g.kh, j = r % g.kw;
    const float* __restrict s = xpad + (b * g.C_in + ci) * HpWp + i * Wp + j;
    float* __restrict d = cols + r * ld + b * P;
    for (int64_t oh = 0; oh < OH; ++oh) {
      for (int64_t ow = 0; ow < OW; ++ow) d[oh * OW + ow] = s[oh * Wp + ow];
    }
  });
}

// cols (K x nb*P, leading dimension ld) from images x[0 .. nb) (each C_in x H x W): row (ci, i, j)
// of image b holds x[b, ci, oh*sh - ph + i, ow*sw - pw + j] (0 outside) at column b*P + oh*OW + ow.
void im2col(float* cols, int64_t ld, const float* x, int64_t nb, const Geom& g, int nt) {
  if (g.sh == 1 && g.sw == 1 && (g.ph > 0 || g.pw > 0)) {
    im2col_padded(cols, ld, x, nb, g, nt);
    return;
  }
  const int64_t K = g.K(), P = g.P(), HW = g.H * g.W;
  parallel_for_rows(K * nb, P, nt, [&](int64_t item) {
    const int64_t r = item / nb, b = item % nb;
    const int64_t ci = r / (g.kh * g.kw), i = (r / g.kw) % g.kh, j = r % g.kw;
    const float* src = x + (b * g.C_in + ci) * HW;
    float* dst = cols + r * ld + b * P;
    int64_t oh_lo, oh_hi, ow_lo, ow_hi;
    valid_range(i, g.sh, g.ph, g.H, g.OH, &oh_lo, &oh_hi);
    valid_range(j, g.sw, g.pw, g.W, g.OW, &ow_lo, &ow_hi);
    const int64_t OW = g.OW, sw = g.sw;
    for (int64_t k = 0; k < oh_lo * OW; ++k) dst[k] = 0.0f;
    for (int64_t oh = oh_lo; oh < oh_hi; ++oh) {
      float* __restrict d = dst + oh * OW;
      const float* __restrict s = src + (oh * g.sh - g.ph + i) * g.W - g.pw + j;
      // Plain loops, not memcpy/fill calls: rows are short (OW is often 8-32).
      for (int64_t ow = 0; ow < ow_lo; ++ow) d[ow] = 0.0f;
      if (sw == 1) {
        for (int64_t ow = ow_lo; ow < ow_hi; ++ow) d[ow] = s[ow];
      } else {
        for (int64_t ow = ow_lo; ow < ow_hi; ++ow) d[ow] = s[ow * sw];
      }
      for (int64_t ow = ow_hi; ow < OW; ++ow) d[ow] = 0.0f;
    }
    for (int64_t k = oh_hi * OW; k < P; ++k) dst[k] = 0.0f;
  });
}

// dx[b] (C_in x H x W, overwritten) from dcols (K x nb*P, leading dimension ld), the adjoint of
// im2col: each (b, ci) plane has one writer, which adds in (i, j, oh, ow) order.
void col2im(float* dx, const float* dcols, int64_t ld, int64_t nb, const Geom& g, int nt) {
  if (g.sh == 1 && g.sw == 1 && (g.ph > 0 || g.pw > 0)) {
    // Stride 1 with padding: accumulate into a zero-padded plane (each item owns one), so the
    // inner loop has no bounds logic, then keep its interior. Same (i, j, oh, ow) order, same
    // bits as below.
    const int64_t Hp = g.H + 2 * g.ph, Wp = g.W + 2 * g.pw, HpWp = Hp * Wp;
    const int64_t P = g.P(), OH = g.OH, OW = g.OW, HW = g.H * g.W;
    float* pads = scratch_pad().get(nb * g.C_in * HpWp);
    parallel_for_rows(nb * g.C_in, g.kh * g.kw * P, nt, [&](int64_t item) {
      const int64_t b = item / g.C_in, ci = item % g.C_in;
      float* __restrict pad = pads + item * HpWp;
      for (int64_t k = 0; k < HpWp; ++k) pad[k] = 0.0f;
      for (int64_t i = 0; i < g.kh; ++i) {
        for (int64_t j = 0; j < g.kw; ++j) {
          const float* __restrict src = dcols + ((ci * g.kh + i) * g.kw + j) * ld + b * P;
          float* __restrict d = pad + i * Wp + j;
          for (int64_t oh = 0; oh < OH; ++oh) {
            for (int64_t ow = 0; ow < OW; ++ow) d[oh * Wp + ow] += src[oh * OW + ow];
          }
        }
      }
      float* __restrict plane = dx + item * HW;
      for (int64_t h = 0; h < g.H; ++h) {
        for (int64_t w = 0; w < g.W; ++w) plane[h * g.W + w] = pad[(h + g.ph) * Wp + g.pw + w];
      }
    });
    return;
  }
  const int64_t P = g.P(), HW = g.H * g.W;
  parallel_for_rows(nb * g.C_in, g.kh * g.kw * P, nt, [&](int64_t item) {
    const int64_t b = item / g.C_in, ci = item % g.C_in;
    float* plane = dx + item * HW;
    std::fill(plane, plane + HW, 0.0f);
    for (int64_t i = 0; i < g.kh; ++i) {
      int64_t oh_lo, oh_hi;
      valid_range(i, g.sh, g.ph, g.H, g.OH, &oh_lo, &oh_hi);
      for (int64_t j = 0; j < g.kw; ++j) {
        int64_t ow_lo, ow_hi;
        valid_range(j, g.sw, g.pw, g.W, g.OW, &ow_lo, &ow_hi);
        const float* src = dcols + ((ci * g.kh + i) * g.kw + j) * ld + b * P;
        for (int64_t oh = oh_lo; oh < oh_hi; ++oh) {
          float* d = plane + (oh * g.sh - g.ph + i) * g.W - g.pw + j;
          const float* s = src + oh * g.OW;
          if (g.sw == 1) {
            for (int64_t ow = ow_lo; ow < ow_hi; ++ow) d[ow] += s[ow];
          } else {
            for (int64_t ow = ow_lo; ow < ow_hi; ++ow) d[ow * g.sw] += s[ow];
          }
        }
      }
    }
  });
}

// Sum of n floats in a fixed order: 16 independent lanes (vectorizable without reassociation),
// then the lanes in order, in double.
double sum_fixed(const float* v, int64_t n) {
  float lane[16] = {};
  int64_t k = 0;
  for (; k + 16 <= n; k += 16) {
    for (int l = 0; l < 16; ++l) lane[l] += v[k + l];
  }
  double s = 0.0;
  for (int l = 0; l < 16; ++l) s += lane[l];
  for (; k < n; ++k) s += v[k];
  return s;
}

}  // namespace

// ------------------------------------------------------------------------------ references

void conv2d_forward_naive(float* y, const float* x, const float* w, const float* bias, int64_t N,
                          int64_t C_in, int64_t H, int64_t W, int64_t C_out, int64_t kh, int64_t kw,
                          int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  const Geom g = make_geom(N, C_in, H, W, C_out, kh, kw, sh, sw, ph, pw);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t co = 0; co < C_out; ++co)
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          double s = 0.0;
          for (int64_t ci = 0; ci < C_in; ++ci)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                const int64_t ih = oh * sh - ph + i, iw = ow * sw - pw + j;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                s += static_cast<double>(w[((co * C_in + ci) * kh + i) * kw + j]) *
                     x[((n * C_in + ci) * H + ih) * W + iw];
              }
          if (bias) s += bias[co];
          y[((n * C_out + co) * g.OH + oh) * g.OW + ow] = static_cast<float>(s);
        }
}

void conv2d_backward_data_naive(float* dx, const float* dy, const float* w, int64_t N, int64_t C_in,
                                int64_t H, int64_t W, int64_t C_out, int64_t kh, int64_t kw,
                                int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  const Geom g = make_geom(N, C_in, H, W, C_out, kh, kw, sh, sw, ph, pw);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t ci = 0; ci < C_in; ++ci)
      for (int64_t ih = 0; ih < H; ++ih)
        for (int64_t iw = 0; iw < W; ++iw) {
          double s = 0.0;
          for (int64_t co = 0; co < C_out; ++co)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                // ih = oh*sh - ph + i  <=>  oh = (ih + ph - i) / sh when divisible
                const int64_t th = ih + ph - i, tw = iw + pw - j;
                if (th < 0 || tw < 0 || th % sh != 0 || tw % sw != 0) continue;
                const int64_t oh = th / sh, ow = tw / sw;
                if (oh >= g.OH || ow >= g.OW) continue;
                s += static_cast<double>(w[((co * C_in + ci) * kh + i) * kw + j]) *
                     dy[((n * C_out + co) * g.OH + oh) * g.OW + ow];
              }
          dx[((n * C_in + ci) * H + ih) * W + iw] = static_cast<float>(s);
        }
}

void conv2d_backward_weights_naive(float* dw, float* db, const float* dy, const float* x, int64_t N,
                                   int64_t C_in, int64_t H, int64_t W, int64_t C_out, int64_t kh,
                                   int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  const Geom g = make_geom(N, C_in, H, W, C_out, kh, kw, sh, sw, ph, pw);
  for (int64_t co = 0; co < C_out; ++co)
    for (int64_t ci = 0; ci < C_in; ++ci)
      for (int64_t i = 0; i < kh; ++i)
        for (int64_t j = 0; j < kw; ++j) {
          double s = 0.0;
          for (int64_t n = 0; n < N; ++n)
            for (int64_t oh = 0; oh < g.OH; ++oh)
              for (int64_t ow = 0; ow < g.OW; ++ow) {
                const int64_t ih = oh * sh - ph + i, iw = ow * sw - pw + j;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                s += static_cast<double>(dy[((n * C_out + co) * g.OH + oh) * g.OW + ow]) *
                     x[((n * C_in + ci) * H + ih) * W + iw];
              }
          dw[((co * C_in + ci) * kh + i) * kw + j] = static_cast<float>(s);
        }
  if (db) {
    for (int64_t co = 0; co < C_out; ++co) {
      double s = 0.0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t p = 0; p < g.OH * g.OW; ++p) s += dy[(n * C_out + co) * g.OH * g.OW + p];
      db[co] = static_cast<float>(s);
    }
  }
}

// ------------------------------------------------------------------------------ optimized

namespace {

// The two scratch buffers of the calling thread (im2col / column gradients, and the gathered
// output gradient of the weight pass).
ScratchBuffer& scratch_cols() {
  thread_local ScratchBuffer s;
  return s;
}
ScratchBuffer& scratch_dy() {
  thread_local ScratchBuffer s;
  return s;
}

// Whether dw^T = cols @ dy^T tiles better than dw = dy @ cols^T: the padded area of the output
// in 14 x 32 micro-tiles (the AVX-512 GEMM's; a shape-only rule, never the thread count).
bool wgrad_transposed(int64_t K, int64_t C_out) {
  auto padded = [](int64_t rows, int64_t cols) {
    return ((rows + 13) / 14 * 14) * ((cols + 31) / 32 * 32);
  };
  // Only a clear gain (>= 10%) flips it: 5x5 on one channel (K = 25, C_out = 32) measured
  // 10-11 ms against 12-13 ms for N = 128, 28x28 (one thread, noisy 2-core VM).
  return 10 * padded(K, C_out) < 9 * padded(C_out, K);
}

// Calls body(c, inner) for every work item c in [0, n) (a chunk of images, or a group of chunks
// of the weight pass), each item writing only its own outputs. With enough items for the
// threads they run in parallel, one per thread at a time, and inner = 1: the item's GEMMs and
// copies run serially (gemm_forward_serial; no nested parallelism). Otherwise the items run in
// order on the calling thread with inner = nt, parallel inside. An item's result is the same
// bits either way (the GEMM is thread-count independent; the copies and col2im are too), so
// the choice may depend on the thread count.
template <class F>
void for_each_item(int64_t n, int nt, const F& body) {
#ifdef LF_WITH_OPENMP
  if (nt > 1 && n >= 2 * static_cast<int64_t>(nt)) {
    FirstError err;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t c = 0; c < n; ++c) err.run([&] { body(c, 1); });
    err.rethrow();
    return;
  }
#endif
  for (int64_t c = 0; c < n; ++c) body(c, nt);
}

// gemm_forward_cpu on nt threads, or gemm_forward_serial when nt == 1 (inside for_each_item).
void gemm_nt(int nt, float* C, int64_t ldc, const float* A, int64_t lda, bool trans_a,
             const float* B, int64_t ldb, bool trans_b, int64_t M, int64_t N, int64_t K,
             float alpha, float beta) {
  if (nt <= 1) {
    gemm_forward_serial(C, ldc, A, lda, trans_a, B, ldb, trans_b, M, N, K, alpha, beta, nullptr,
                        Activation::none);
  } else {
    gemm_forward_cpu(C, ldc, A, lda, trans_a, B, ldb, trans_b, M, N, K, alpha, beta, nullptr,
                     Activation::none, nt);
  }
}

// Floats of weight-gradient partials (one C_out x K matrix per group of images) at most: 16 MiB.
constexpr int64_t kPartialFloats = int64_t{1} << 22;
// Groups of the weight pass at most (enough to balance 2-4 threads on a noisy machine).
constexpr int64_t kMaxGroups = 16;

// Weight gradients of stride-1 layers with a small K = C_in*kh*kw (the first layer of an image
// net: 25 for a 5x5 kernel on one channel) skip im2col: with the input planes zero-padded to
// Hp x Wp and dy_n copied into rows of the same width Wp (zeros in columns >= OW and up to a
// multiple of 16), the correlation of dy_n with tap (ci, i, j) of x_n is one contiguous dot
// product, dw[co, t] += sum_q dyp[co, q] * xpad[ci*Hp*Wp + i*Wp + j + q] over q < OH*Wp, run by
// the per-ISA kernel (ops/conv2d_kernels.h; the padding columns cost Wp/OW - 1 extra, 14% for
// 28x28 with a 5x5 kernel). The generic path spends 4 passes over K x P or C_out x P floats per
// image on im2col, its packing and the gather and transposing pack of dy, which made it
// memory-bound at K = 25. Same threading and order rules as the generic path: the batch is cut
// into at most kMaxGroups groups of consecutive images (shapes only); each group sums its images
// in order into its own partial; dw is the sum of the partials in group order.
constexpr int64_t kDirectWgradMaxK = 32;

void wgrad_direct(float* dw, double* db_part, const float* dy, const float* x, const Geom& g,
                  int nt) {
  const auto& kern = conv_detail::conv_kernels_for(active_isa());
  const int64_t K = g.K(), P = g.P(), C_out = g.C_out, N = g.N, OW = g.OW;
  const int64_t Hp = g.H + 2 * g.ph, Wp = g.W + 2 * g.pw, HpWp = Hp * Wp, HW = g.H * g.W;
  const int64_t pad16 = conv_detail::kDotPad;
  const int64_t L = (g.OH * Wp + pad16 - 1) / pad16 * pad16;
  // Reads reach xpad[off(t) + q] for q < L: past the planes by at most kw - 1 + 15 floats.
  const int64_t xpad_len = g.C_in * HpWp + g.kw + pad16;
  std::vector<int64_t> off(static_cast<size_t>(K));  // tap (ci, i, j) -> offset in xpad
  for (int64_t t = 0; t < K; ++t) {
    const int64_t ci = t / (g.kh * g.kw), i = (t / g.kw) % g.kh, j = t % g.kw;
    off[static_cast<size_t>(t)] = ci * HpWp + i * Wp + j;
  }
  const int64_t n_groups = std::min(N, kMaxGroups);
  std::vector<float> partials(static_cast<size_t>(n_groups * C_out * K));
  for_each_item(n_groups, nt, [&](int64_t q, int /*inner: a group runs serially*/) {
    float* xpad = scratch_pad().get(xpad_len);
    float* dyp = scratch_dy().get(C_out * L);
    std::fill(xpad, xpad + xpad_len, 0.0f);  // borders and tail stay zero
    std::fill(dyp, dyp + C_out * L, 0.0f);   // columns >= OW and the tail stay zero
    const int64_t n_lo = N * q / n_groups, n_hi = N * (q + 1) / n_groups;
    for (int64_t n = n_lo; n < n_hi; ++n) {
      const float* xn = x + n * g.C_in * HW;
      for (int64_t ci = 0; ci < g.C_in; ++ci) {
        for (int64_t h = 0; h < g.H; ++h) {
          std::memcpy(xpad + ci * HpWp + (h + g.ph) * Wp + g.pw, xn + ci * HW + h * g.W,
                      static_cast<size_t>(g.W) * sizeof(float));
        }
      }
      const float* dyn = dy + n * C_out * P;
      for (int64_t co = 0; co < C_out; ++co) {
        if (db_part) db_part[n * C_out + co] = sum_fixed(dyn + co * P, P);
        for (int64_t oh = 0; oh < g.OH; ++oh) {
          std::memcpy(dyp + co * L + oh * Wp, dyn + co * P + oh * OW,
                      static_cast<size_t>(OW) * sizeof(float));
        }
      }
      kern.dot_rows(dyp, L, C_out, xpad, off.data(), K, L, partials.data() + q * C_out * K, K,
                    n > n_lo);
    }
  });
  // dw = partial_0 + partial_1 + ... in group order.
  parallel_for_rows(C_out, K * n_groups, nt, [&](int64_t co) {
    for (int64_t t = 0; t < K; ++t) {
      float s = partials[static_cast<size_t>(co * K + t)];
      for (int64_t r = 1; r < n_groups; ++r)
        s += partials[static_cast<size_t>((r * C_out + co) * K + t)];
      dw[co * K + t] = s;
    }
  });
}

}  // namespace

void conv2d_forward_cpu(float* y, const float* x, const float* w, const float* bias, int64_t N,
                        int64_t C_in, int64_t H, int64_t W, int64_t C_out, int64_t kh, int64_t kw,
                        int64_t sh, int64_t sw, int64_t ph, int64_t pw, int num_threads) {
  const Geom g = make_geom(N, C_in, H, W, C_out, kh, kw, sh, sw, ph, pw);
  const int nt = std::max(1, num_threads);
  const int64_t K = g.K(), P = g.P();
  if (N == 0 || C_out == 0) return;
  // With a bias, y_n starts as bias[co] in every row (filled just before its GEMM, so it is in
  // cache) and the GEMM adds to it (beta = 1: one rounding of acc + bias, as the reference).
  const float beta = bias ? 1.0f : 0.0f;
  auto prefill = [&](int64_t n) {
    if (!bias) return;
    for (int64_t co = 0; co < C_out; ++co) {
      float* row = y + (n * C_out + co) * P;
      for (int64_t p = 0; p < P; ++p) row[p] = bias[co];
    }
  };
  if (g.pointwise()) {  // cols_n is x_n itself
    for_each_item(N, nt, [&](int64_t n, int inner) {
      prefill(n);
      gemm_nt(inner, y + n * C_out * P, P, w, std::max<int64_t>(K, 1), false, x + n * K * P, P,
              false, C_out, P, K, 1.0f, beta);
    });
    return;
  }
  const int64_t nb = chunk_images(g, (K + C_out) * P);
  for_each_item((N + nb - 1) / nb, nt, [&](int64_t c, int inner) {
    const int64_t n0 = c * nb, m = std::min(nb, N - n0), ld = m * P;
    float* cols = scratch_cols().get(K * m * P);  // this thread's
    im2col(cols, ld, x + n0 * C_in * H * W, m, g, inner);
    if (m == 1) {
      prefill(n0);
      gemm_nt(inner, y + n0 * C_out * P, P, w, std::max<int64_t>(K, 1), false, cols, ld, false,
              C_out, P, K, 1.0f, beta);
      return;
    }
    // Small images (e.g. 28x28 with K = 25): one GEMM over the chunk's images side by side, then
    // every (image, channel) row moves to y, adding the bias there (the same single rounding of
    // acc + bias).
    float* ytmp = scratch_dy().get(C_out * m * P);
    gemm_nt(inner, ytmp, ld, w, std::max<int64_t>(K, 1), false, cols, ld, false, C_out, ld, K, 1.0f,
            0.0f);
    parallel_for_rows(m * C_out, P, inner, [&](int64_t item) {
      const int64_t b = item / C_out, co = item % C_out;
      float* __restrict d = y + (n0 * C_out + item) * P;
      const float* __restrict src = ytmp + co * ld + b * P;
      const float bv = bias ? bias[co] : 0.0f;
      if (bias) {
        for (int64_t p = 0; p < P; ++p) d[p] = src[p] + bv;
      } else {
        for (int64_t p = 0; p < P; ++p) d[p] = src[p];
      }
    });
  });
}

void conv2d_backward_data_cpu(float* dx, const float* dy, const float* w, int64_t N, int64_t C_in,
                              int64_t H, int64_t W, int64_t C_out, int64_t kh, int64_t kw,
                              int64_t sh, int64_t sw, int64_t ph, int64_t pw, int num_threads) {
  const Geom g = make_geom(N, C_in, H, W, C_out, kh, kw, sh, sw, ph, pw);
  const int nt = std::max(1, num_threads);
  const int64_t K = g.K(), P = g.P();
  if (N == 0 || C_in == 0 || H == 0 || W == 0) return;
  // dcols_n (K x P) = w^T @ dy_n: w is C_out x K, read transposed.
  if (g.pointwise()) {
    for_each_item(N, nt, [&](int64_t n, int inner) {
      gemm_nt(inner, dx + n * K * P, P, w, K, true, dy + n * C_out * P, P, false, K, P, C_out, 1.0f,
              0.0f);
    });
    return;
  }
  const int64_t nb = chunk_images(g, (K + C_out) * P);
  for_each_item((N + nb - 1) / nb, nt, [&](int64_t c, int inner) {
    const int64_t n0 = c * nb, m = std::min(nb, N - n0), ld = m * P;
    float* dcols = scratch_cols().get(K * m * P);  // this thread's
    if (m == 1) {
      gemm_nt(inner, dcols, ld, w, K, true, dy + n0 * C_out * P, P, false, K, P, C_out, 1.0f, 0.0f);
    } else {  // small images: the chunk's dy side by side (C_out x m*P), one GEMM
      float* dyg = scratch_dy().get(C_out * m * P);
      parallel_for_rows(C_out * m, P, inner, [&](int64_t item) {
        const int64_t co = item / m, b = item % m;
        std::memcpy(dyg + co * ld + b * P, dy + ((n0 + b) * C_out + co) * P, P * sizeof(float));
      });
      gemm_nt(inner, dcols, ld, w, K, true, dyg, ld, false, K, ld, C_out, 1.0f, 0.0f);
    }
    col2im(dx + n0 * C_in * H * W, dcols, ld, m, g, inner);
  });
}

void conv2d_backward_weights_cpu(float* dw, float* db, const float* dy, const float* x, int64_t N,
                                 int64_t C_in, int64_t H, int64_t W, int64_t C_out, int64_t kh,
                                 int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                                 int num_threads) {
  const Geom g = make_geom(N, C_in, H, W, C_out, kh, kw, sh, sw, ph, pw);
  const int nt = std::max(1, num_threads);
  const int64_t K = g.K(), P = g.P();
  // db[co] = sum over images n in order of sum_fixed(dy[n, co, :]) (in double). The per-image
  // sums are taken while the weight pass reads dy; without a weight pass they are taken here,
  // with the same bits.
  std::vector<double> part;
  if (db) part.assign(static_cast<size_t>(N * C_out), 0.0);
  auto finish_db = [&] {
    if (!db) return;
    for (int64_t co = 0; co < C_out; ++co) {
      double s = 0.0;
      for (int64_t n = 0; n < N; ++n) s += part[static_cast<size_t>(n * C_out + co)];
      db[co] = static_cast<float>(s);
    }
  };
  if (C_out == 0 || K == 0) {
    if (db) {
      parallel_for_rows(N * C_out, P, nt, [&](int64_t item) {
        part[static_cast<size_t>(item)] = sum_fixed(dy + item * P, P);
      });
    }
    finish_db();
    return;
  }
  if (N == 0) {
    std::fill(dw, dw + C_out * K, 0.0f);
    finish_db();
    return;
  }
  if (K <= kDirectWgradMaxK && g.sh == 1 && g.sw == 1) {
    wgrad_direct(dw, db ? part.data() : nullptr, dy, x, g, nt);
    finish_db();
    return;
  }
  // The batch is cut into chunks of nb images and the chunks into n_groups groups of cpg
  // consecutive chunks, all fixed by the shapes (never the thread count). Group q accumulates
  // its own partial dw_q (C_out x K) = sum over its chunks, in order, of dy_chunk (C_out x m*P)
  // @ cols_chunk^T -- one GEMM per chunk, beta = 1 after the first -- or its transpose when that
  // wastes less of the GEMM's micro-tiles (few, narrow rows of K = C_in*kh*kw, e.g. 25 for a 5x5
  // kernel on one channel). The groups run in parallel (one thread each), then dw is the sum of
  // the partials in group order, so the bits do not depend on the threads.
  const bool transposed = wgrad_transposed(K, C_out);
  const int64_t nb = chunk_images(g, (K + C_out) * P);
  const int64_t n_chunks = (N + nb - 1) / nb;
  const int64_t max_groups = std::clamp<int64_t>(kPartialFloats / (C_out * K), 1, kMaxGroups);
  const int64_t cpg = (n_chunks + max_groups - 1) / max_groups;
  const int64_t n_groups = (n_chunks + cpg - 1) / cpg;
  std::vector<float> partials(static_cast<size_t>(n_groups * C_out * K));
  for_each_item(n_groups, nt, [&](int64_t q, int inner) {
    float* dwq = partials.data() + q * C_out * K;
    const int64_t c_end = std::min(n_chunks, (q + 1) * cpg);
    for (int64_t c = q * cpg; c < c_end; ++c) {
      const int64_t n0 = c * nb, m = std::min(nb, N - n0), ld = m * P;
      float* cols = scratch_cols().get(K * m * P);  // this thread's
      im2col(cols, ld, x + n0 * C_in * H * W, m, g, inner);
      const float* dyc = dy + n0 * C_out * P;  // one image: its dy is C_out x P already
      if (m > 1) {  // small images: gather the chunk's dy side by side (C_out x m*P)
        float* dyg = scratch_dy().get(C_out * m * P);
        parallel_for_rows(C_out * m, P, inner, [&](int64_t item) {
          const int64_t co = item / m, b = item % m;
          std::memcpy(dyg + co * ld + b * P, dy + ((n0 + b) * C_out + co) * P, P * sizeof(float));
        });
        dyc = dyg;
      }
      if (db) {
        parallel_for_rows(m * C_out, P, inner, [&](int64_t item) {
          part[static_cast<size_t>(n0 * C_out + item)] = sum_fixed(dy + (n0 * C_out + item) * P, P);
        });
      }
      const float beta = c == q * cpg ? 0.0f : 1.0f;
      if (transposed) {  // dw_q^T (K x C_out) += cols @ dy_chunk^T
        gemm_nt(inner, dwq, C_out, cols, ld, false, dyc, ld, true, K, C_out, ld, 1.0f, beta);
      } else {
        gemm_nt(inner, dwq, K, dyc, ld, false, cols, ld, true, C_out, K, ld, 1.0f, beta);
      }
    }
  });
  // dw = partial_0 + partial_1 + ... in group order (transposing back when transposed).
  parallel_for_rows(C_out, K * n_groups, nt, [&](int64_t co) {
    for (int64_t r = 0; r < K; ++r) {
      const int64_t e = transposed ? r * C_out + co : co * K + r;
      float s = partials[static_cast<size_t>(e)];
      for (int64_t q = 1; q < n_groups; ++q) s += partials[static_cast<size_t>(q * C_out * K + e)];
      dw[co * K + r] = s;
    }
  });
  finish_db();
}

}  // namespace lf
