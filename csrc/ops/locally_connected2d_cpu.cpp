// CPU locally connected layer (contract in ops/locally_connected2d.h): the naive loop references
// and the optimized kernels side by side.
//
// Optimized kernels. Per output position p = (oh, ow) the layer is a small GEMM over the batch:
// with K = C_in*kh*kw, Y_p (C_out x N) = W_p (C_out x K) @ X_p (K x N), where row t = (ci, i, j)
// of X_p is x[:, ci, oh*sh + i, ow*sw + j]. So the batch is made the contiguous index: x is
// copied once into a batch-last matrix xT (C_in*H*W rows of ldn lanes, ldn = N rounded up to
// 16, zeros past N), and row t of X_p is then the row of xT at a fixed offset -- no im2col, no
// gather per position. The three passes, each on the per-ISA kernels of
// ops/locally_connected2d_kernels.h, in 16-lane slices:
//   forward           Y_p = W_p @ X_p          (gemm_rows; a slab of positions per work item,
//                                               copied back to NCHW with the bias added)
//   backward weights  dW_p = dY_p @ X_p^T      (dot_rows over the batch; dy is copied to a
//                     db_p = dY_p @ 1           batch-last dyT (C_out x P rows) first)
//   backward data     dX_p += W_p^T @ dY_p     (gemm_rows_t_add into a batch-last dxT, then
//                                               copied back to NCHW)
// Threads: forward and backward weights write disjoint outputs per position, so their work
// items (an output row oh and a block of 64 lanes of the batch; one position) run in parallel
// with no reduction at all. In backward data the patches of neighbouring positions overlap:
// output rows oh and oh' touch disjoint input rows when |oh - oh'| >= G = ceil(kh / sh), so the
// rows run in G waves (wave r: oh = r mod G), the rows of a wave (times the lane blocks) in
// parallel, the waves in order. Every dx element thus sums its contributions in one fixed order
// (wave, ow, tap; the sum over C_out first), whatever the thread count; the weight gradient
// needs no cross-thread reduction at all (each position's weights are its own).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/check.h"
#include "core/cpu_features.h"
#include "core/parallel.h"
#include "core/scratch.h"
#include "ops/locally_connected2d.h"
#include "ops/locally_connected2d_kernels.h"

namespace lf {

namespace {

using lc2d_detail::kLanePad;

struct Geom {
  int64_t N, C_in, H, W, C_out, kh, kw, sh, sw, OH, OW;
  int64_t K() const { return C_in * kh * kw; }
  int64_t P() const { return OH * OW; }
  int64_t R() const { return C_in * H * W; }  // rows of the batch-last input
  int64_t ldn() const { return (N + kLanePad - 1) / kLanePad * kLanePad; }
};

Geom make_geom(int64_t N, int64_t C_in, int64_t H, int64_t W, int64_t C_out, int64_t kh, int64_t kw,
               int64_t sh, int64_t sw) {
  const LocallyConnected2dGeometry o =
      locally_connected2d_check_args(N, C_in, H, W, C_out, kh, kw, sh, sw);
  return {N, C_in, H, W, C_out, kh, kw, sh, sw, o.OH, o.OW};
}

}  // namespace

// ------------------------------------------------------------------------------ references

void locally_connected2d_forward_naive(float* y, const float* x, const float* w, const float* bias,
                                       int64_t N, int64_t C_in, int64_t H, int64_t W, int64_t C_out,
                                       int64_t kh, int64_t kw, int64_t sh, int64_t sw) {
  const Geom g = make_geom(N, C_in, H, W, C_out, kh, kw, sh, sw);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t co = 0; co < C_out; ++co)
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const float* wp = w + ((oh * g.OW + ow) * C_out + co) * g.K();
          double s = 0.0;
          for (int64_t ci = 0; ci < C_in; ++ci)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                s += static_cast<double>(wp[(ci * kh + i) * kw + j]) *
                     x[((n * C_in + ci) * H + oh * sh + i) * W + ow * sw + j];
              }
          if (bias) s += bias[(co * g.OH + oh) * g.OW + ow];
          y[((n * C_out + co) * g.OH + oh) * g.OW + ow] = static_cast<float>(s);
        }
}

void locally_connected2d_backward_data_naive(float* dx, const float* dy, const float* w, int64_t N,
                                             int64_t C_in, int64_t H, int64_t W, int64_t C_out,
                                             int64_t kh, int64_t kw, int64_t sh, int64_t sw) {
  const Geom g = make_geom(N, C_in, H, W, C_out, kh, kw, sh, sw);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t ci = 0; ci < C_in; ++ci)
      for (int64_t ih = 0; ih < H; ++ih)
        for (int64_t iw = 0; iw < W; ++iw) {
          double s = 0.0;
          for (int64_t i = 0; i < kh; ++i)
            for (int64_t j = 0; j < kw; ++j) {
              // ih = oh*sh + i  <=>  oh = (ih - i) / sh when divisible and in range
              const int64_t th = ih - i, tw = iw - j;
              if (th < 0 || tw < 0 || th % sh != 0 || tw % sw != 0) continue;
              const int64_t oh = th / sh, ow = tw / sw;
              if (oh >= g.OH || ow >= g.OW) continue;
              for (int64_t co = 0; co < C_out; ++co) {
                s += static_cast<double>(
                         w[(((oh * g.OW + ow) * C_out + co) * C_in + ci) * kh * kw + i * kw + j]) *
                     dy[((n * C_out + co) * g.OH + oh) * g.OW + ow];
              }
            }
          dx[((n * C_in + ci) * H + ih) * W + iw] = static_cast<float>(s);
        }
}

void locally_connected2d_backward_weights_naive(float* dw, float* db, const float* dy,
                                                const float* x, int64_t N, int64_t C_in, int64_t H,
                                                int64_t W, int64_t C_out, int64_t kh, int64_t kw,
                                                int64_t sh, int64_t sw) {
  const Geom g = make_geom(N, C_in, H, W, C_out, kh, kw, sh, sw);
  const int64_t P = g.P();
  for (int64_t oh = 0; oh < g.OH; ++oh)
    for (int64_t ow = 0; ow < g.OW; ++ow)
      for (int64_t co = 0; co < C_out; ++co)
        for (int64_t ci = 0; ci < C_in; ++ci)
          for (int64_t i = 0; i < kh; ++i)
            for (int64_t j = 0; j < kw; ++j) {
              double s = 0.0;
              for (int64_t n = 0; n < N; ++n) {
                s += static_cast<double>(dy[((n * C_out + co) * g.OH + oh) * g.OW + ow]) *
                     x[((n * C_in + ci) * H + oh * sh + i) * W + ow * sw + j];
              }
              dw[((((oh * g.OW + ow) * C_out + co) * C_in + ci) * kh + i) * kw + j] =
                  static_cast<float>(s);
            }
  if (db) {
    for (int64_t co = 0; co < C_out; ++co)
      for (int64_t p = 0; p < P; ++p) {
        double s = 0.0;
        for (int64_t n = 0; n < N; ++n) s += dy[(n * C_out + co) * P + p];
        db[co * P + p] = static_cast<float>(s);
      }
  }
}

// ------------------------------------------------------------------------------ optimized

namespace {

constexpr int64_t kLaneBlock = 64;  // lanes (images) per work item of the forward / data pass
constexpr int64_t kSerialFlops = 1 << 16;  // below this much work the passes run serially

// The calling thread's batch-last buffers: xT or dxT, dyT, and a work item's output slab.
ScratchBuffer& scratch_x() {
  thread_local ScratchBuffer s;
  return s;
}
ScratchBuffer& scratch_dy() {
  thread_local ScratchBuffer s;
  return s;
}
ScratchBuffer& scratch_slab() {
  thread_local ScratchBuffer s;
  return s;
}

// Calls body(item) for every item in [0, n); the items write disjoint outputs, so any split
// gives the same bits. Parallel (one item per iteration) when there are threads and work.
template <class F>
void for_items(int64_t n, bool parallel, int nt, const F& body) {
#ifdef LF_WITH_OPENMP
  if (parallel && nt > 1 && n > 1) {
    FirstError err;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t c = 0; c < n; ++c) err.run([&] { body(c); });
    err.rethrow();
    return;
  }
#endif
  for (int64_t c = 0; c < n; ++c) body(c);
}

// The copies to and from batch-last go through 16 x 16 tiles, so that every row written is 16
// contiguous floats (one cache line). A work item is a block of 16 images times a chunk of up to
// kRowChunk rows, walked tile by tile along the rows: it reads 16 rows of the NCHW side
// sequentially (16 streams) and writes a narrow band of the batch-last side, instead of
// touching 16 images' pages for every tile (TLB misses made a column-first walk 3x slower).
constexpr int64_t kTile = 16;
constexpr int64_t kRowChunk = 1024;

// To batch-last: for every plane c < C and row r < R,
//   dst[c * dplane + r * dld + n] = src[c * splane + n * sld + r]  (n < N), 0 for N <= n < ldn.
// ldn = N rounded up to kTile, so the zeros are the tail of the last block of images.
void to_lanes(float* dst, int64_t dplane, int64_t dld, int64_t ldn, const float* src,
              int64_t splane, int64_t sld, int64_t C, int64_t R, int64_t N, int nt) {
  const int64_t nnb = ldn / kTile, nrc = (R + kRowChunk - 1) / kRowChunk;
  parallel_for_rows(C * nnb * nrc, kTile * std::min(R, kRowChunk), nt, [&](int64_t item) {
    const int64_t c = item / (nnb * nrc), n0 = (item / nrc) % nnb * kTile;
    const int64_t rc = item % nrc * kRowChunk, rc_end = std::min(R, rc + kRowChunk);
    const int64_t nn = std::min(kTile, N - n0);
    float* d = dst + c * dplane + n0;
    const float* s = src + c * splane + n0 * sld;
    float tile[kTile][kTile] = {};  // lanes a >= nn stay zero
    for (int64_t r0 = rc; r0 < rc_end; r0 += kTile) {
      const int64_t nr = std::min(kTile, rc_end - r0);
      for (int64_t a = 0; a < nn; ++a) {
        const float* sa = s + a * sld + r0;
        for (int64_t r = 0; r < nr; ++r) tile[r][a] = sa[r];
      }
      for (int64_t r = 0; r < nr; ++r) {
        float* __restrict dr = d + (r0 + r) * dld;
        for (int64_t a = 0; a < kTile; ++a) dr[a] = tile[r][a];
      }
    }
  });
}

// Back from batch-last: dst[n * dld + r] = src[r * sld + n] for r < R, n < N, through tiles.
void from_lanes(float* dst, int64_t dld, const float* src, int64_t sld, int64_t R, int64_t N,
                int nt) {
  const int64_t nnb = (N + kTile - 1) / kTile, nrc = (R + kRowChunk - 1) / kRowChunk;
  parallel_for_rows(nnb * nrc, kTile * std::min(R, kRowChunk), nt, [&](int64_t item) {
    const int64_t n0 = item / nrc * kTile;
    const int64_t rc = item % nrc * kRowChunk, rc_end = std::min(R, rc + kRowChunk);
    const int64_t nn = std::min(kTile, N - n0);
    float tile[kTile][kTile];
    for (int64_t r0 = rc; r0 < rc_end; r0 += kTile) {
      const int64_t nr = std::min(kTile, rc_end - r0);
      for (int64_t r = 0; r < nr; ++r) {
        const float* sr = src + (r0 + r) * sld + n0;
        for (int64_t a = 0; a < kTile; ++a) tile[a][r] = sr[a];
      }
      for (int64_t a = 0; a < nn; ++a) {
        float* __restrict da = dst + (n0 + a) * dld + r0;
        for (int64_t r = 0; r < nr; ++r) da[r] = tile[a][r];
      }
    }
  });
}

// Offsets (in floats of the batch-last input) of the K taps (ci, i, j) of position (oh, ow).
void tap_offsets(int64_t* off, const Geom& g, int64_t oh, int64_t ow) {
  const int64_t ldn = g.ldn(), h0 = oh * g.sh, w0 = ow * g.sw;
  int64_t t = 0;
  for (int64_t ci = 0; ci < g.C_in; ++ci)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) off[t++] = ((ci * g.H + h0 + i) * g.W + w0 + j) * ldn;
}

// Sum of n floats in a fixed order: 16 independent lanes, then the lanes in order, in double.
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

double flops(const Geom& g) {
  return 2.0 * static_cast<double>(g.N) * static_cast<double>(g.C_out) *
         static_cast<double>(g.P()) * static_cast<double>(g.K());
}

}  // namespace

void locally_connected2d_forward_cpu(float* y, const float* x, const float* w, const float* bias,
                                     int64_t N, int64_t C_in, int64_t H, int64_t W, int64_t C_out,
                                     int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                                     int num_threads) {
  const Geom g = make_geom(N, C_in, H, W, C_out, kh, kw, sh, sw);
  const int nt = std::max(1, num_threads);
  if (N == 0 || C_out == 0) return;
  const auto& kern = lc2d_detail::lc2d_kernels_for(active_isa());
  const int64_t K = g.K(), P = g.P(), OH = g.OH, OW = g.OW, ldn = g.ldn();
  const bool par = flops(g) >= kSerialFlops;
  float* xT = scratch_x().get(g.R() * ldn);
  to_lanes(xT, 0, ldn, ldn, x, 0, g.R(), 1, g.R(), N, par ? nt : 1);
  // Work item: output row oh x a block of up to kLaneBlock lanes. Its slab (OW x C_out x L) is
  // then written to y (rows of OW floats), adding the bias (one rounding of acc + bias).
  const int64_t nlb = (ldn + kLaneBlock - 1) / kLaneBlock;
  for_items(OH * nlb, par, nt, [&](int64_t item) {
    const int64_t oh = item / nlb, q0 = (item % nlb) * kLaneBlock;
    const int64_t L = std::min(kLaneBlock, ldn - q0), n_end = std::min(N, q0 + L);
    float* slab = scratch_slab().get(OW * C_out * L);
    std::vector<int64_t> off(static_cast<size_t>(std::max<int64_t>(K, 1)));
    for (int64_t ow = 0; ow < OW; ++ow) {
      tap_offsets(off.data(), g, oh, ow);
      kern.gemm_rows(slab + ow * C_out * L, L, w + (oh * OW + ow) * C_out * K, K, C_out, xT + q0,
                     off.data(), K, L);
    }
    for (int64_t n = q0; n < n_end; ++n) {
      for (int64_t co = 0; co < C_out; ++co) {
        float* __restrict yr = y + ((n * C_out + co) * OH + oh) * OW;
        const float* __restrict s = slab + co * L + (n - q0);
        if (bias) {
          const float* __restrict br = bias + co * P + oh * OW;
          for (int64_t ow = 0; ow < OW; ++ow) yr[ow] = s[ow * C_out * L] + br[ow];
        } else {
          for (int64_t ow = 0; ow < OW; ++ow) yr[ow] = s[ow * C_out * L];
        }
      }
    }
  });
}

void locally_connected2d_backward_data_cpu(float* dx, const float* dy, const float* w, int64_t N,
                                           int64_t C_in, int64_t H, int64_t W, int64_t C_out,
                                           int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                                           int num_threads) {
  const Geom g = make_geom(N, C_in, H, W, C_out, kh, kw, sh, sw);
  const int nt = std::max(1, num_threads);
  const int64_t R = g.R();
  if (N == 0 || R == 0) return;
  const auto& kern = lc2d_detail::lc2d_kernels_for(active_isa());
  const int64_t K = g.K(), P = g.P(), OH = g.OH, OW = g.OW, ldn = g.ldn();
  const bool par = flops(g) >= kSerialFlops;
  const int ntc = par ? nt : 1;
  // dyT: row (co, p) holds dy[:, co, p].
  float* dyT = scratch_dy().get(C_out * P * ldn);
  to_lanes(dyT, P * ldn, ldn, ldn, dy, P, C_out * P, C_out, P, N, ntc);
  float* dxT = scratch_x().get(R * ldn);
  parallel_for_rows(R, ldn, ntc, [&](int64_t r) { std::fill_n(dxT + r * ldn, ldn, 0.0f); });
  const int64_t G = (kh + sh - 1) / sh;  // rows oh, oh + G, ... read disjoint input rows
  const int64_t nlb = (ldn + kLaneBlock - 1) / kLaneBlock;
  for (int64_t wave = 0; wave < std::min(G, OH); ++wave) {
    const int64_t rows = (OH - wave + G - 1) / G;
    for_items(rows * nlb, par, nt, [&](int64_t item) {
      const int64_t oh = wave + (item / nlb) * G, q0 = (item % nlb) * kLaneBlock;
      const int64_t L = std::min(kLaneBlock, ldn - q0);
      std::vector<int64_t> off(static_cast<size_t>(std::max<int64_t>(K, 1)));
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t p = oh * OW + ow;
        tap_offsets(off.data(), g, oh, ow);
        kern.gemm_rows_t_add(dxT + q0, off.data(), K, w + p * C_out * K, K, C_out,
                             dyT + p * ldn + q0, P * ldn, L);
      }
    });
  }
  from_lanes(dx, R, dxT, ldn, R, N, ntc);
}

void locally_connected2d_backward_weights_cpu(float* dw, float* db, const float* dy, const float* x,
                                              int64_t N, int64_t C_in, int64_t H, int64_t W,
                                              int64_t C_out, int64_t kh, int64_t kw, int64_t sh,
                                              int64_t sw, int num_threads) {
  const Geom g = make_geom(N, C_in, H, W, C_out, kh, kw, sh, sw);
  const int nt = std::max(1, num_threads);
  const auto& kern = lc2d_detail::lc2d_kernels_for(active_isa());
  const int64_t K = g.K(), P = g.P(), OW = g.OW, ldn = g.ldn(), R = g.R();
  if (C_out == 0) return;
  const bool par = flops(g) >= kSerialFlops;
  const int ntc = par ? nt : 1;
  float* dyT = scratch_dy().get(C_out * P * ldn);  // row (co, p) holds dy[:, co, p]
  to_lanes(dyT, P * ldn, ldn, ldn, dy, P, C_out * P, C_out, P, N, ntc);
  float* xT = scratch_x().get(R * ldn);
  to_lanes(xT, 0, ldn, ldn, x, 0, R, 1, R, N, ntc);
  // One item per position: its C_out x K weights and C_out biases are its own.
  for_items(P, par, nt, [&](int64_t p) {
    const float* dyp = dyT + p * ldn;  // row co at dyp + co * P * ldn
    if (K > 0) {
      std::vector<int64_t> off(static_cast<size_t>(K));
      tap_offsets(off.data(), g, p / OW, p % OW);
      kern.dot_rows(dw + p * C_out * K, K, dyp, P * ldn, C_out, xT, off.data(), K, ldn);
    }
    if (db) {
      for (int64_t co = 0; co < C_out; ++co) {
        db[co * P + p] = static_cast<float>(sum_fixed(dyp + co * P * ldn, ldn));
      }
    }
  });
}

}  // namespace lf
