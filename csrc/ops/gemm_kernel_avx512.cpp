// AVX-512 GEMM kernels (compiled with -mavx512f/dq/bw/vl and only called when the CPU and OS
// support them). Micro-tile 14 x 32: 28 zmm accumulators, 2 zmm for the B row; A values are
// broadcast straight from memory into the FMA ({1to16} operand), so 30 of 32 registers are
// live and the loop issues 28 FMAs per 16 loads. Edge tiles use masked loads/stores.
#include <array>
#include <bit>
#include <utility>
#include <cstdint>

#include "ops/gemm_kernels.h"

#ifdef LF_HAVE_X86_KERNELS
#include <immintrin.h>

namespace lf::gemm_detail {
namespace {

#include "ops/gemm_common.inc"

constexpr int kMR = 14;
constexpr int kNR = 32;

// Vector exp with the same reduction and polynomial as lf_expf (gemm_common.inc); scalef
// applies 2^n directly. min/max take the constant first so a NaN input propagates.
inline __m512 exp16(__m512 x) {
  x = _mm512_max_ps(_mm512_set1_ps(-87.0f), _mm512_min_ps(_mm512_set1_ps(88.0f), x));
  const __m512 n = _mm512_roundscale_ps(
      _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(0.5f)),
      _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

inline __m512 sigmoid16(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  return _mm512_div_ps(one, _mm512_add_ps(one, exp16(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

// Same formula as lf_tanh: odd polynomial for |x| < 0.25, else 1 - 2 / (exp(2|x|) + 1).
inline __m512 tanh16(__m512 x) {
  const __m512 ax = _mm512_abs_ps(x);
  const __m512 x2 = _mm512_mul_ps(x, x);
  __m512 q = _mm512_fmadd_ps(x2, _mm512_set1_ps(0.021869489f), _mm512_set1_ps(-0.053968254f));
  q = _mm512_fmadd_ps(x2, q, _mm512_set1_ps(0.133333333f));
  q = _mm512_fmadd_ps(x2, q, _mm512_set1_ps(-0.333333333f));
  const __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(x, x2), q, x);
  const __m512 e = exp16(_mm512_add_ps(ax, ax));
  const __m512 big = _mm512_sub_ps(
      _mm512_set1_ps(1.0f), _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, _mm512_set1_ps(1.0f))));
  // Copy the sign of x onto big (bit 31).
  const __m512 signed_big = _mm512_castsi512_ps(_mm512_or_si512(
      _mm512_castps_si512(big),
      _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(static_cast<int>(0x80000000u)))));
  const __mmask16 is_small = _mm512_cmp_ps_mask(ax, _mm512_set1_ps(0.25f), _CMP_LT_OQ);
  return _mm512_mask_blend_ps(is_small, signed_big, small);
}

inline __m512 relu16(__m512 x) {
  // x < 0 ? 0 : x, NaN kept (the compare is false for NaN).
  const __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
  return _mm512_mask_blend_ps(neg, x, _mm512_setzero_ps());
}

// dst[i * ldd + c] = src[c * lds + i] for a 16 x 16 block: the classic three-stage transpose
// (unpack within 128-bit lanes, 64-bit shuffles, then 128-bit lane shuffles).
inline void transpose16x16(const float* src, int64_t lds, float* dst, int64_t ldd) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * lds);
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  // u[4g + q] holds, in lane L, column 4L + q of rows 4g .. 4g + 3.
  __m512 u[16];
  for (int g = 0; g < 4; ++g) {
    const __m512 lo01 = t[4 * g], hi01 = t[4 * g + 1], lo23 = t[4 * g + 2], hi23 = t[4 * g + 3];
    u[4 * g + 0] = _mm512_shuffle_ps(lo01, lo23, 0x44);
    u[4 * g + 1] = _mm512_shuffle_ps(lo01, lo23, 0xEE);
    u[4 * g + 2] = _mm512_shuffle_ps(hi01, hi23, 0x44);
    u[4 * g + 3] = _mm512_shuffle_ps(hi01, hi23, 0xEE);
  }
  for (int q = 0; q < 4; ++q) {
    const __m512 v0 = _mm512_shuffle_f32x4(u[q], u[4 + q], 0x88);
    const __m512 v1 = _mm512_shuffle_f32x4(u[q], u[4 + q], 0xDD);
    const __m512 w0 = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0x88);
    const __m512 w1 = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0xDD);
    _mm512_storeu_ps(dst + (q + 0) * ldd, _mm512_shuffle_f32x4(v0, w0, 0x88));
    _mm512_storeu_ps(dst + (q + 8) * ldd, _mm512_shuffle_f32x4(v0, w0, 0xDD));
    _mm512_storeu_ps(dst + (q + 4) * ldd, _mm512_shuffle_f32x4(v1, w1, 0x88));
    _mm512_storeu_ps(dst + (q + 12) * ldd, _mm512_shuffle_f32x4(v1, w1, 0xDD));
  }
}

// Packing of op(B) = B^T (B stored N x K): full-width slivers go through 16 x 16 register
// transposes instead of the portable element-by-element gather; everything else (and the
// non-transposed case, already a row copy) uses the portable code.
void pack_b_avx512(float* __restrict dst, const float* __restrict B, int64_t ldb, bool trans_b,
                   int64_t k0, int64_t j0, int64_t kc, int64_t nc) {
  if (!trans_b) return pack_b_impl<kNR>(dst, B, ldb, trans_b, k0, j0, kc, nc);
  const int64_t kfull = kc / 16 * 16;
  for (int64_t s = 0; s < nc; s += kNR) {
    const int64_t nr = nc - s < kNR ? nc - s : kNR;
    float* d = dst + s * kc;
    if (nr < kNR || kfull == 0) {
      pack_b_impl<kNR>(d, B, ldb, true, k0, j0 + s, kc, nr);
      continue;
    }
    for (int64_t kb = 0; kb < kfull; kb += 16) {
      for (int h = 0; h < 2; ++h) {
        transpose16x16(B + (j0 + s + 16 * h) * ldb + k0 + kb, ldb, d + kb * kNR + 16 * h, kNR);
      }
    }
    for (int64_t k = kfull; k < kc; ++k) {
      for (int64_t c = 0; c < kNR; ++c) d[k * kNR + c] = B[(j0 + s + c) * ldb + k0 + k];
    }
  }
}

template <Activation A>
void epilogue_rows(float* C, int64_t ldc, int64_t m, int64_t n, const float* bias) {
  for (int64_t i = 0; i < m; ++i) {
    float* c = C + i * ldc;
    for (int64_t j = 0; j < n; j += 16) {
      const __mmask16 mask =
          n - j >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (n - j)) - 1u);
      __m512 v = _mm512_maskz_loadu_ps(mask, c + j);
      if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, bias + j));
      if constexpr (A == Activation::sigmoid) v = sigmoid16(v);
      if constexpr (A == Activation::tanh) v = tanh16(v);
      if constexpr (A == Activation::relu) v = relu16(v);
      _mm512_mask_storeu_ps(c + j, mask, v);
    }
  }
}

void epilogue_avx512(float* C, int64_t ldc, int64_t m, int64_t n, const float* bias,
                     Activation act) {
  switch (act) {
    case Activation::sigmoid: return epilogue_rows<Activation::sigmoid>(C, ldc, m, n, bias);
    case Activation::tanh: return epilogue_rows<Activation::tanh>(C, ldc, m, n, bias);
    case Activation::relu: return epilogue_rows<Activation::relu>(C, ldc, m, n, bias);
    default: return epilogue_rows<Activation::none>(C, ldc, m, n, bias);
  }
}

void exp_inplace_avx512(float* x, int64_t n) {
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 mask =
        n - j >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (n - j)) - 1u);
    _mm512_mask_storeu_ps(x + j, mask, exp16(_mm512_maskz_loadu_ps(mask, x + j)));
  }
}

// Computes the first R rows of a micro-tile (R <= kMR; Ap keeps the kMR-row packed layout), so
// an edge tile of m < kMR rows costs m rows of work, not kMR.
template <int R>
void micro_rows(int64_t kc, const float* __restrict Ap, const float* __restrict Bp, int64_t ldbp,
                float* C, int64_t ldc, int n, float alpha, float beta) {
  // Ask for the C tile now so its (likely L3/DRAM) lines arrive while the FMAs run instead of
  // stalling the final read-modify-write: otherwise ~10% of a large GEMM waits on C.
  for (int i = 0; i < R; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc + kNR - 1), _MM_HINT_T0);
  }
  __m512 c0[R], c1[R];
#pragma GCC unroll 14
  for (int i = 0; i < R; ++i) c0[i] = c1[i] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_loadu_ps(Bp);
    const __m512 b1 = _mm512_loadu_ps(Bp + 16);
#pragma GCC unroll 14
    for (int i = 0; i < R; ++i) {
      const __m512 a = _mm512_set1_ps(Ap[i]);
      c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
      c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
    }
    Ap += kMR;
    Bp += ldbp;
  }
  const __m512 va = _mm512_set1_ps(alpha);
  const __m512 vb = _mm512_set1_ps(beta);
  const __mmask16 m0 = n >= 16 ? static_cast<__mmask16>(0xFFFF)
                               : static_cast<__mmask16>((1u << n) - 1u);
  const __mmask16 m1 = n >= 32  ? static_cast<__mmask16>(0xFFFF)
                       : n > 16 ? static_cast<__mmask16>((1u << (n - 16)) - 1u)
                                : static_cast<__mmask16>(0);
#pragma GCC unroll 14
  for (int i = 0; i < R; ++i) {
    float* c = C + i * ldc;
    __m512 r0 = _mm512_mul_ps(va, c0[i]);
    __m512 r1 = _mm512_mul_ps(va, c1[i]);
    if (beta != 0.0f) {
      r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, c), r0);
      r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, c + 16), r1);
    }
    _mm512_mask_storeu_ps(c, m0, r0);
    _mm512_mask_storeu_ps(c + 16, m1, r1);
  }
}

template <int... Rs>
constexpr auto make_row_kernels(std::integer_sequence<int, Rs...>) {
  using Fn = void (*)(int64_t, const float*, const float*, int64_t, float*, int64_t, int, float,
                      float);
  return std::array<Fn, sizeof...(Rs)>{&micro_rows<Rs + 1>...};
}
constexpr auto kRowKernels = make_row_kernels(std::make_integer_sequence<int, kMR>{});

void micro_avx512(int64_t kc, const float* __restrict Ap, const float* __restrict Bp, int64_t ldbp,
                  float* C, int64_t ldc, int m, int n, float alpha, float beta) {
  kRowKernels[m - 1](kc, Ap, Bp, ldbp, C, ldc, n, alpha, beta);
}

}  // namespace

const GemmKernels& kernels_avx512() {
  // Blocking measured on a 2-core Zen 5 (benchmarks/RESULTS.md): a deep KC = 1024 (B sliver
  // 128 KiB and A sliver 56 KiB, both streamed from L2, whose bandwidth keeps up) halves or
  // quarters the passes over C compared with an L1-sized KC = 256, which was the main cost at
  // n >= 1024 (2048^3 on 2 threads: 440 -> 483 GFLOP/s); MC = 112 keeps the A block in L2.
  static const GemmKernels k{"avx512", kMR, kNR, 112, 1024, 3072, &pack_a_impl<kMR>,
                             &pack_b_avx512, &micro_avx512, &epilogue_avx512,
                             &exp_inplace_avx512};
  return k;
}

}  // namespace lf::gemm_detail
#endif  // LF_HAVE_X86_KERNELS
