// AVX-512 GEMM kernels (compiled with -mavx512f/dq/bw/vl and only called when the CPU and OS
// support them). Micro-tile 14 x 32: 28 zmm accumulators, 2 zmm for the B row; A values are
// broadcast straight from memory into the FMA ({1to16} operand), so 30 of 32 registers are
// live and the loop issues 28 FMAs per 16 loads. Edge tiles use masked loads/stores.
#include <array>
#include <bit>
#include <cstdint>
#include <utility>

#include "ops/gemm_kernels.h"

#ifdef LF_HAVE_X86_KERNELS
#include <immintrin.h>

namespace lf::gemm_detail {
namespace {

#include "ops/gemm_common.inc"

constexpr int kMR = 14;
constexpr int kNR = 32;

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
  const __mmask16 m0 =
      n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
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
  using Fn =
      void (*)(int64_t, const float*, const float*, int64_t, float*, int64_t, int, float, float);
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
  static const GemmKernels k{"avx512",       kMR,          kNR, 112, 1024, 3072, &pack_a_impl<kMR>,
                             &pack_b_avx512, &micro_avx512};
  return k;
}

}  // namespace lf::gemm_detail
#endif  // LF_HAVE_X86_KERNELS
