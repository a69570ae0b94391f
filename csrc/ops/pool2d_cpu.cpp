// CPU 2-D pooling, max / avg / L2, forward and backward (contract in ops/pool2d.h).
//
// The optimized kernels run one (n, c) plane per OpenMP iteration; everything inside a plane is
// serial, so no result depends on the thread count. Within a plane:
//   forward: each output row is split into the columns whose window lies inside the input (the
//     interior) and the rest. On rows whose window lies inside the input vertically, the interior
//     of the 2x2 stride 2 and 3x3 stride 2 windows runs 4 outputs per SSE2 vector (the stride-2
//     columns deinterleaved with shuffles); every other output takes the scalar per-window loop.
//     Both visit a window in row-major order with the same arithmetic (the sum of avg and l2
//     starts from the first element of the window, the max takes an element when it is greater
//     than the best so far or is the first NaN), so they give the same bits.
//   backward: the plane of dx is zeroed, then every output adds its contributions to its window
//     in row-major output order (the plane is small and stays in cache). Non-overlapping 2x2
//     stride 2 avg/l2 rows run 4 outputs per vector, adding to the zeroed row exactly as the
//     scalar scatter does. The CUDA kernel gathers in the same order and gets the same bits.
// The SSE2 paths are part of the x86-64 baseline; they are skipped (scalar loops only) when the
// active ISA is capped to "scalar" (LATENTFORGE_ISA / lf.set_isa), which the tests use to
// compare the two bit for bit.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/check.h"
#include "core/cpu_features.h"
#include "core/parallel.h"
#include "ops/pool2d.h"

#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#define LF_POOL_SSE2 1
// The per-block lambdas must inline into their loops (GCC otherwise calls them).
#define LF_POOL_INLINE __attribute__((always_inline))
#endif

namespace lf {

namespace {

// The max rule: v replaces the best so far when it is greater, or when it is the first NaN.
inline bool takes_max(float v, float best) { return v > best || (v != v && best == best); }

// The input rows [h0, h1) and columns [w0, w1) of output (oh, ow)'s window, clipped.
struct Window {
  int64_t h0, h1, w0, w1;
};

inline Window window_of(const Pool2dShape& s, int64_t oh, int64_t ow) {
  const int64_t hs = oh * s.sh - s.ph, ws = ow * s.sw - s.pw;
  return {std::max<int64_t>(hs, 0), std::min(hs + s.kh, s.h), std::max<int64_t>(ws, 0),
          std::min(ws + s.kw, s.w)};
}

// One output of the optimized kernel, by the scalar window loop (float arithmetic): the first
// element of the window starts the max or the sum, the others follow in row-major order.
template <PoolMode M>
inline void pool_one(float* yo, int32_t* ao, const float* xp, const Pool2dShape& s, int64_t oh,
                     int64_t ow) {
  const Window win = window_of(s, oh, ow);
  const int64_t W = s.w;
  int64_t best_i = win.h0 * W + win.w0;
  float acc = xp[best_i];
  if constexpr (M == PoolMode::l2) acc *= acc;
  auto step = [&](int64_t i) {
    const float v = xp[i];
    if constexpr (M == PoolMode::max) {
      const bool take = takes_max(v, acc);  // branch-free: random data mispredicts
      acc = take ? v : acc;
      best_i = take ? i : best_i;
    } else if constexpr (M == PoolMode::avg) {
      acc += v;
    } else {
      acc += v * v;
    }
  };
  for (int64_t w = win.w0 + 1; w < win.w1; ++w) step(win.h0 * W + w);
  for (int64_t h = win.h0 + 1; h < win.h1; ++h) {
    for (int64_t w = win.w0; w < win.w1; ++w) step(h * W + w);
  }
  if constexpr (M == PoolMode::max) {
    *yo = acc;
    *ao = static_cast<int32_t>(best_i);
  } else if constexpr (M == PoolMode::avg) {
    *yo = acc / static_cast<float>(s.kh * s.kw);
  } else {
    *yo = std::sqrt(acc);
  }
}

// The outputs [lo, hi) of a row whose window lies inside the input: columns w = ow*sw - pw >= 0
// and w + kw <= W.
struct Interior {
  int64_t lo, hi;
};

inline Interior interior_columns(const Pool2dShape& s) {
  const int64_t lo = std::min((s.pw + s.sw - 1) / s.sw, s.ow);
  const int64_t last = s.w + s.pw - s.kw;  // the largest ow*sw allowed
  const int64_t hi = last < 0 ? 0 : std::min(last / s.sw + 1, s.ow);
  return {lo, std::max(lo, hi)};
}

#ifdef LF_POOL_SSE2
inline __m128 even_lanes(__m128 lo, __m128 hi) {
  return _mm_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
}
inline __m128 odd_lanes(__m128 lo, __m128 hi) {
  return _mm_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
}

// The first maximum of the candidates c[LO..HI) (no NaN among them) and its offset: a tree of
// pairwise "take the right one when strictly greater" steps, which keeps the first maximum in
// row-major order whatever the tree's shape, with a short dependency chain.
struct MaxIdx {
  __m128 v;
  __m128i i;
};

template <int LO, int HI, int K>
LF_POOL_INLINE inline MaxIdx max_tree(const __m128 (&c)[K], const int32_t (&off)[K]) {
  if constexpr (HI - LO == 1) {
    return {c[LO], _mm_set1_epi32(off[LO])};
  } else {
    constexpr int MID = (LO + HI) / 2;
    const MaxIdx l = max_tree<LO, MID>(c, off), r = max_tree<MID, HI>(c, off);
    const __m128i take = _mm_castps_si128(_mm_cmpgt_ps(r.v, l.v));
    // maxps returns its second operand unless the first is greater: ties keep the left one.
    return {_mm_max_ps(r.v, l.v),
            _mm_or_si128(_mm_and_si128(take, r.i), _mm_andnot_si128(take, l.i))};
  }
}

// Reduces the K candidate vectors c[0..K) of 4 windows (c[k] = the k-th element of each window
// in row-major order, at in-window flat offset off[k]) and stores 4 outputs; base = the flat
// index of the first window's origin, the others follow at stride 2 columns. In max mode a block
// holding a NaN is left to the scalar loop (returns false, nothing stored): without NaN the max
// rule is "the first maximum", which max_tree computes; avg and l2 sum in row-major order.
template <PoolMode M, int K>
LF_POOL_INLINE inline bool reduce4(float* y, int32_t* am, const __m128 (&c)[K],
                                   const int32_t (&off)[K], int64_t base, float count) {
  if constexpr (M == PoolMode::max) {
    __m128 nan = _mm_cmpunord_ps(c[0], c[K - 1]);
    for (int k = 1; k + 1 < K; k += 2) nan = _mm_or_ps(nan, _mm_cmpunord_ps(c[k], c[k + 1]));
    if (_mm_movemask_ps(nan) != 0) return false;
    const MaxIdx m = max_tree<0, K>(c, off);
    const __m128 best = m.v;
    const __m128i idx = m.i;
    _mm_storeu_ps(y, best);
    const __m128i b =
        _mm_add_epi32(_mm_set1_epi32(static_cast<int32_t>(base)), _mm_setr_epi32(0, 2, 4, 6));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(am), _mm_add_epi32(b, idx));
  } else {
    __m128 acc = M == PoolMode::l2 ? _mm_mul_ps(c[0], c[0]) : c[0];
    for (int k = 1; k < K; ++k) {
      acc = _mm_add_ps(acc, M == PoolMode::l2 ? _mm_mul_ps(c[k], c[k]) : c[k]);
    }
    _mm_storeu_ps(y, M == PoolMode::l2 ? _mm_sqrt_ps(acc) : _mm_div_ps(acc, _mm_set1_ps(count)));
  }
  return true;
}

// Runs block(o) for o = ow, ow + 4, ... and a last block at end - 4 (which may recompute some
// outputs of the one before it, with the same result), covering [ow, end) 4 outputs at a time;
// returns the first output not done (ow itself when fewer than 4 are asked for).
template <class Block>
LF_POOL_INLINE inline int64_t blocks_of_4(int64_t ow, int64_t end, const Block& block) {
  if (end - ow < 4) return ow;
  for (; ow + 4 <= end; ow += 4) block(ow);
  if (ow < end) block(end - 4);
  return end;
}

// Outputs [ow, end) of row oh for a stride-2 window KW = 2 or 3 columns wide whose NR valid
// input rows (the window clipped to the input vertically) start at row h1; all in the interior
// columns (w = 2*ow - pw >= 0, w + KW <= W). Column c of the 4 windows at w, w+2, w+4, w+6 is
// the even (c = 0) or odd (c = 1) lanes of the 8 columns from w, and for c = 2 the even lanes
// shifted by one with column w + 8 appended, so the loads stay within the windows' columns.
template <PoolMode M, int KW, int NR>
int64_t row_stride2(float* yr, int32_t* ar, const float* xp, const Pool2dShape& s, int64_t oh,
                    int64_t h1, int64_t ow, int64_t end) {
  constexpr int K = KW * NR;
  const int64_t W = s.w;
  const float* x0 = xp + h1 * W;
  const float count = static_cast<float>(s.kh * s.kw);
  int32_t off[K];
  for (int r = 0; r < NR; ++r) {
    for (int j = 0; j < KW; ++j) off[r * KW + j] = r * static_cast<int32_t>(W) + j;
  }
  return blocks_of_4(ow, end, [&](int64_t o) LF_POOL_INLINE {
    const int64_t w = 2 * o - s.pw;
    __m128 c[K];
    for (int r = 0; r < NR; ++r) {
      const float* xr = x0 + r * W + w;
      const __m128 lo = _mm_loadu_ps(xr), hi = _mm_loadu_ps(xr + 4);
      const __m128 even = even_lanes(lo, hi);
      c[r * KW] = even;
      c[r * KW + 1] = odd_lanes(lo, hi);
      if constexpr (KW == 3) {
        // (x[w+8], e1, e2, e3) rotated to (e1, e2, e3, x[w+8]).
        const __m128 t = _mm_move_ss(even, _mm_load_ss(xr + 8));
        c[r * KW + 2] = _mm_shuffle_ps(t, t, _MM_SHUFFLE(0, 3, 2, 1));
      }
    }
    if (!reduce4<M>(yr + o, ar ? ar + o : nullptr, c, off, h1 * W + w, count)) {
      for (int64_t q = o; q < o + 4; ++q) pool_one<M>(yr + q, ar ? ar + q : nullptr, xp, s, oh, q);
    }
  });
}

// The SIMD kernel of row oh for [ow, end) when there is one (2x2 or 3x3 window, stride 2), else
// returns ow.
template <PoolMode M>
int64_t row_simd(float* yr, int32_t* ar, const float* xp, const Pool2dShape& s, int64_t oh,
                 int64_t ow, int64_t end) {
  if (s.sh != 2 || s.sw != 2 || s.kh != s.kw || (s.kw != 2 && s.kw != 3)) return ow;
  const int64_t h0 = oh * s.sh - s.ph;
  const int64_t h1 = std::max<int64_t>(h0, 0);
  const int64_t nr = std::min(h0 + s.kh, s.h) - h1;
  const int code = static_cast<int>(s.kw * 4 + nr);
  switch (code) {
    case 2 * 4 + 1: return row_stride2<M, 2, 1>(yr, ar, xp, s, oh, h1, ow, end);
    case 2 * 4 + 2: return row_stride2<M, 2, 2>(yr, ar, xp, s, oh, h1, ow, end);
    case 3 * 4 + 1: return row_stride2<M, 3, 1>(yr, ar, xp, s, oh, h1, ow, end);
    case 3 * 4 + 2: return row_stride2<M, 3, 2>(yr, ar, xp, s, oh, h1, ow, end);
    case 3 * 4 + 3: return row_stride2<M, 3, 3>(yr, ar, xp, s, oh, h1, ow, end);
    default: return ow;
  }
}
#endif  // LF_POOL_SSE2

template <PoolMode M>
void forward_plane(float* yp, int32_t* ap, const float* xp, const Pool2dShape& s, bool simd) {
  const Interior in = interior_columns(s);
  for (int64_t oh = 0; oh < s.oh; ++oh) {
    float* yr = yp + oh * s.ow;
    int32_t* ar = M == PoolMode::max ? ap + oh * s.ow : nullptr;
    int64_t ow = 0;
#ifdef LF_POOL_SSE2
    if (simd && in.hi - in.lo >= 4) {
      for (; ow < in.lo; ++ow) pool_one<M>(yr + ow, ar ? ar + ow : nullptr, xp, s, oh, ow);
      ow = row_simd<M>(yr, ar, xp, s, oh, ow, in.hi);
    }
#else
    (void)in;
    (void)simd;
#endif
    for (; ow < s.ow; ++ow) pool_one<M>(yr + ow, ar ? ar + ow : nullptr, xp, s, oh, ow);
  }
}

// ------------------------------------------------------------------------------ backward
template <PoolMode M>
inline void scatter_one(float* dxp, float g, float r, const float* xp, const Pool2dShape& s,
                        int64_t oh, int64_t ow) {
  const Window win = window_of(s, oh, ow);
  for (int64_t h = win.h0; h < win.h1; ++h) {
    for (int64_t w = win.w0; w < win.w1; ++w) {
      const int64_t i = h * s.w + w;
      if constexpr (M == PoolMode::avg) {
        dxp[i] += g;
      } else {
        dxp[i] += g * (xp[i] * r);
      }
    }
  }
}

inline float l2_recip(float y) { return y != 0.0f ? 1.0f / y : 0.0f; }

// avg / l2: dx plane is zero on entry.
template <PoolMode M>
void backward_plane(float* dxp, const float* dyp, const float* xp, const float* yp,
                    const Pool2dShape& s, bool simd) {
  const float count = static_cast<float>(s.kh * s.kw);
  const bool k2s2 = s.kh == 2 && s.kw == 2 && s.sh == 2 && s.sw == 2;
  const Interior in = interior_columns(s);
  for (int64_t oh = 0; oh < s.oh; ++oh) {
    const float* dyr = dyp + oh * s.ow;
    const float* yr = M == PoolMode::l2 ? yp + oh * s.ow : nullptr;
    const int64_t h0 = oh * s.sh - s.ph;
    int64_t ow = 0;
    auto one = [&](int64_t o) {
      const float g = M == PoolMode::avg ? dyr[o] / count : dyr[o];
      const float r = M == PoolMode::l2 ? l2_recip(yr[o]) : 0.0f;
      scatter_one<M>(dxp, g, r, xp, s, oh, o);
    };
#ifdef LF_POOL_SSE2
    if (simd && k2s2 && h0 >= 0 && h0 + 2 <= s.h) {
      for (; ow < in.lo; ++ow) one(ow);
      float* d0 = dxp + h0 * s.w;
      float* d1 = d0 + s.w;
      const float* x0 = M == PoolMode::l2 ? xp + h0 * s.w : nullptr;
      // Non-overlapping windows: each input of the interior gets exactly one contribution, so
      // dx = +0 + c (what the scalar scatter computes) is stored, not added: the last block of
      // blocks_of_4 may rewrite outputs of the one before it.
      const __m128 zero = _mm_setzero_ps();
      ow = blocks_of_4(ow, in.hi, [&](int64_t o) LF_POOL_INLINE {
        const int64_t w = 2 * o - s.pw;
        const __m128 dy = _mm_loadu_ps(dyr + o);
        if constexpr (M == PoolMode::avg) {
          const __m128 g = _mm_div_ps(dy, _mm_set1_ps(count));
          const __m128 glo = _mm_add_ps(zero, _mm_unpacklo_ps(g, g));
          const __m128 ghi = _mm_add_ps(zero, _mm_unpackhi_ps(g, g));
          _mm_storeu_ps(d0 + w, glo);
          _mm_storeu_ps(d0 + w + 4, ghi);
          _mm_storeu_ps(d1 + w, glo);
          _mm_storeu_ps(d1 + w + 4, ghi);
        } else {
          const __m128 y = _mm_loadu_ps(yr + o);
          const __m128 r = _mm_and_ps(_mm_cmpneq_ps(y, zero), _mm_div_ps(_mm_set1_ps(1.0f), y));
          const __m128 rlo = _mm_unpacklo_ps(r, r), rhi = _mm_unpackhi_ps(r, r);
          const __m128 glo = _mm_unpacklo_ps(dy, dy), ghi = _mm_unpackhi_ps(dy, dy);
          for (int row = 0; row < 2; ++row) {
            float* d = row ? d1 : d0;
            const float* xr = x0 + row * s.w;
            const __m128 c0 = _mm_mul_ps(glo, _mm_mul_ps(_mm_loadu_ps(xr + w), rlo));
            const __m128 c1 = _mm_mul_ps(ghi, _mm_mul_ps(_mm_loadu_ps(xr + w + 4), rhi));
            _mm_storeu_ps(d + w, _mm_add_ps(zero, c0));
            _mm_storeu_ps(d + w + 4, _mm_add_ps(zero, c1));
          }
        }
      });
    }
#else
    (void)simd;
    (void)k2s2;
    (void)in;
    (void)h0;
#endif
    for (; ow < s.ow; ++ow) one(ow);
  }
}

void check_mode(PoolMode mode, const char* what) {
  const int m = static_cast<int>(mode);
  LF_CHECK(m >= 0 && m <= 2, what, ": unknown pooling mode ", m);
}

void check_pointers(const float* out, const float* in, int32_t* am, const Pool2dShape& s,
                    PoolMode mode, const char* what) {
  if (s.planes() == 0) return;
  LF_CHECK(out != nullptr && in != nullptr, what, ": null pointer");
  LF_CHECK(mode != PoolMode::max || am != nullptr, what, ": max pooling needs argmax");
}

template <class F>
void dispatch_mode(PoolMode mode, const F& f) {
  switch (mode) {
    case PoolMode::max: f(std::integral_constant<PoolMode, PoolMode::max>{}); break;
    case PoolMode::avg: f(std::integral_constant<PoolMode, PoolMode::avg>{}); break;
    case PoolMode::l2: f(std::integral_constant<PoolMode, PoolMode::l2>{}); break;
  }
}

}  // namespace

void pool2d_forward_cpu(float* y, int32_t* argmax, const float* x, const Pool2dShape& s,
                        PoolMode mode, int num_threads) {
  check_mode(mode, "pool2d_forward");
  check_pointers(y, x, argmax, s, mode, "pool2d_forward");
  const int64_t in_plane = s.h * s.w, out_plane = s.oh * s.ow;
  const bool simd = active_isa() != Isa::scalar;
  dispatch_mode(mode, [&](auto m) {
    constexpr PoolMode M = decltype(m)::value;
    parallel_for_rows(s.planes(), in_plane, num_threads, [&](int64_t p) {
      forward_plane<M>(y + p * out_plane, M == PoolMode::max ? argmax + p * out_plane : nullptr,
                       x + p * in_plane, s, simd);
    });
  });
}

void pool2d_backward_cpu(float* dx, const float* dy, const int32_t* argmax, const float* x,
                         const float* y, const Pool2dShape& s, PoolMode mode, int num_threads) {
  check_mode(mode, "pool2d_backward");
  check_pointers(dx, dy, const_cast<int32_t*>(argmax), s, mode, "pool2d_backward");
  if (mode == PoolMode::l2 && s.planes() > 0) {
    LF_CHECK(x != nullptr && y != nullptr, "pool2d_backward: l2 pooling needs x and y");
  }
  const int64_t in_plane = s.h * s.w, out_plane = s.oh * s.ow;
  const bool simd = active_isa() != Isa::scalar;
  std::atomic<bool> bad{false};
  dispatch_mode(mode, [&](auto m) {
    constexpr PoolMode M = decltype(m)::value;
    parallel_for_rows(s.planes(), in_plane, num_threads, [&](int64_t p) {
      float* dxp = dx + p * in_plane;
      const float* dyp = dy + p * out_plane;
      std::memset(dxp, 0, static_cast<size_t>(in_plane) * sizeof(float));
      if constexpr (M == PoolMode::max) {
        const int32_t* ap = argmax + p * out_plane;
        const uint32_t n = static_cast<uint32_t>(in_plane);
        bool ok = true;
        for (int64_t o = 0; o < out_plane; ++o) {
          const uint32_t a = static_cast<uint32_t>(ap[o]);
          if (a < n) {
            dxp[a] += dyp[o];
          } else {
            ok = false;
          }
        }
        if (!ok) bad.store(true, std::memory_order_relaxed);
      } else {
        backward_plane<M>(dxp, dyp, M == PoolMode::l2 ? x + p * in_plane : nullptr,
                          M == PoolMode::l2 ? y + p * out_plane : nullptr, s, simd);
      }
    });
  });
  LF_CHECK(!bad.load(), "pool2d_backward: argmax holds an index outside [0, H*W = ", in_plane, ")");
}

// ------------------------------------------------------------------------------ references
void pool2d_forward_naive(float* y, int32_t* argmax, const float* x, const Pool2dShape& s,
                          PoolMode mode) {
  check_mode(mode, "pool2d_forward");
  check_pointers(y, x, argmax, s, mode, "pool2d_forward");
  for (int64_t p = 0; p < s.planes(); ++p) {
    const float* xp = x + p * s.h * s.w;
    for (int64_t oh = 0; oh < s.oh; ++oh) {
      for (int64_t ow = 0; ow < s.ow; ++ow) {
        const int64_t o = (p * s.oh + oh) * s.ow + ow;
        float best = 0.0f;
        int64_t best_i = -1;
        double sum = 0.0;
        for (int64_t i = 0; i < s.kh; ++i) {
          for (int64_t j = 0; j < s.kw; ++j) {
            const int64_t h = oh * s.sh - s.ph + i, w = ow * s.sw - s.pw + j;
            if (h < 0 || h >= s.h || w < 0 || w >= s.w) continue;  // padding
            const float v = xp[h * s.w + w];
            if (mode == PoolMode::max) {
              const bool greater = v > best || (std::isnan(v) && !std::isnan(best));
              if (best_i < 0 || greater) {
                best = v;
                best_i = h * s.w + w;
              }
            } else {
              sum += mode == PoolMode::avg ? static_cast<double>(v)
                                           : static_cast<double>(v) * static_cast<double>(v);
            }
          }
        }
        if (mode == PoolMode::max) {
          y[o] = best;
          argmax[o] = static_cast<int32_t>(best_i);
        } else if (mode == PoolMode::avg) {
          y[o] = static_cast<float>(sum / static_cast<double>(s.kh * s.kw));
        } else {
          y[o] = static_cast<float>(std::sqrt(sum));
        }
      }
    }
  }
}

void pool2d_backward_naive(float* dx, const float* dy, const int32_t* argmax, const float* x,
                           const float* y, const Pool2dShape& s, PoolMode mode) {
  check_mode(mode, "pool2d_backward");
  check_pointers(dx, dy, const_cast<int32_t*>(argmax), s, mode, "pool2d_backward");
  if (mode == PoolMode::l2 && s.planes() > 0) {
    LF_CHECK(x != nullptr && y != nullptr, "pool2d_backward: l2 pooling needs x and y");
  }
  const int64_t in_plane = s.h * s.w, out_plane = s.oh * s.ow;
  if (mode == PoolMode::max) {
    for (int64_t o = 0; o < s.planes() * out_plane; ++o) {
      LF_CHECK(argmax[o] >= 0 && argmax[o] < in_plane,
               "pool2d_backward: argmax holds an index outside [0, H*W = ", in_plane, ")");
    }
  }
  std::vector<double> acc(static_cast<size_t>(in_plane));
  for (int64_t p = 0; p < s.planes(); ++p) {
    std::fill(acc.begin(), acc.end(), 0.0);
    const float* xp = mode == PoolMode::l2 ? x + p * in_plane : nullptr;
    for (int64_t oh = 0; oh < s.oh; ++oh) {
      for (int64_t ow = 0; ow < s.ow; ++ow) {
        const int64_t o = (p * s.oh + oh) * s.ow + ow;
        const double g = dy[o];
        if (mode == PoolMode::max) {
          acc[static_cast<size_t>(argmax[o])] += g;
          continue;
        }
        for (int64_t i = 0; i < s.kh; ++i) {
          for (int64_t j = 0; j < s.kw; ++j) {
            const int64_t h = oh * s.sh - s.ph + i, w = ow * s.sw - s.pw + j;
            if (h < 0 || h >= s.h || w < 0 || w >= s.w) continue;
            const size_t k = static_cast<size_t>(h * s.w + w);
            if (mode == PoolMode::avg) {
              acc[k] += g / static_cast<double>(s.kh * s.kw);
            } else if (y[o] != 0.0f) {
              acc[k] += g * static_cast<double>(xp[k]) / static_cast<double>(y[o]);
            }
          }
        }
      }
    }
    for (int64_t k = 0; k < in_plane; ++k) {
      dx[p * in_plane + k] = static_cast<float>(acc[static_cast<size_t>(k)]);
    }
  }
}

}  // namespace lf
