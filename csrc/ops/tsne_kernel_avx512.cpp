// AVX-512 interaction kernel of the grouped Barnes-Hut t-SNE gradient (ops/tsne_kernels.h):
// two targets per pass over the list (shared loads, six independent accumulator chains), 16
// sources per vector.
#include "ops/tsne_kernels.h"

#include <algorithm>
#include <cstring>

#ifdef LF_HAVE_X86_KERNELS
#include <immintrin.h>

namespace lf::tsne_detail {
namespace {

inline float hsum16(__m512 v) {  // fixed order: 256-bit halves, then as hsum8
  __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

// Lanes of the source block starting at j other than target t itself.
inline __mmask16 not_self(int64_t t, int64_t j) {
  const int64_t l = t - j;
  return l >= 0 && l < 16 ? static_cast<__mmask16>(~(1u << l)) : static_cast<__mmask16>(0xFFFF);
}

struct Acc {
  __m512 z = _mm512_setzero_ps(), x = _mm512_setzero_ps(), y = _mm512_setzero_ps();
};

inline void interact(Acc& a, __m512 px, __m512 py, __m512 vx, __m512 vy, __m512 vm) {
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 dx = _mm512_sub_ps(px, vx), dy = _mm512_sub_ps(py, vy);
  const __m512 d2 = _mm512_fmadd_ps(dx, dx, _mm512_mul_ps(dy, dy));
  const __m512 q = _mm512_div_ps(one, _mm512_add_ps(one, d2));
  const __m512 mq = _mm512_mul_ps(vm, q);
  const __m512 mq2 = _mm512_mul_ps(mq, q);
  a.z = _mm512_add_ps(a.z, mq);
  a.x = _mm512_fmadd_ps(mq2, dx, a.x);
  a.y = _mm512_fmadd_ps(mq2, dy, a.y);
}

void repulse_avx512(const float* sx, const float* sy, const float* sm, int64_t m,
                    const float* tx, const float* ty, int64_t nt, float* z, float* rx,
                    float* ry) {
  int64_t t = 0;
  for (; t + 2 <= nt; t += 2) {
    const __m512 px0 = _mm512_set1_ps(tx[t]), py0 = _mm512_set1_ps(ty[t]);
    const __m512 px1 = _mm512_set1_ps(tx[t + 1]), py1 = _mm512_set1_ps(ty[t + 1]);
    Acc a0, a1;
    for (int64_t j = 0; j < m; j += 16) {
      const __m512 vx = _mm512_loadu_ps(sx + j), vy = _mm512_loadu_ps(sy + j);
      const __m512 vm = _mm512_loadu_ps(sm + j);
      interact(a0, px0, py0, vx, vy, _mm512_maskz_mov_ps(not_self(t, j), vm));
      interact(a1, px1, py1, vx, vy, _mm512_maskz_mov_ps(not_self(t + 1, j), vm));
    }
    z[t] = hsum16(a0.z), rx[t] = hsum16(a0.x), ry[t] = hsum16(a0.y);
    z[t + 1] = hsum16(a1.z), rx[t + 1] = hsum16(a1.x), ry[t + 1] = hsum16(a1.y);
  }
  for (; t < nt; ++t) {
    const __m512 px = _mm512_set1_ps(tx[t]), py = _mm512_set1_ps(ty[t]);
    Acc a;
    for (int64_t j = 0; j < m; j += 16) {
      interact(a, px, py, _mm512_loadu_ps(sx + j), _mm512_loadu_ps(sy + j),
               _mm512_maskz_mov_ps(not_self(t, j), _mm512_loadu_ps(sm + j)));
    }
    z[t] = hsum16(a.z), rx[t] = hsum16(a.x), ry[t] = hsum16(a.y);
  }
}

// The neighbours' coordinates of a row are first copied (scalar loads: gathers are slow on some
// CPUs, e.g. AMD Zen 4) into small aligned buffers, chunk by chunk; the arithmetic, one division
// per entry included, then runs 16 entries per vector, the row's tail masked (p = 0 there).
void attract_avx512(const int64_t* indptr, const int32_t* indices, const float* pvals,
                    const float* Y, const int32_t* rows, int64_t nrows, float* attr) {
  constexpr int64_t kChunk = 256;
  alignas(64) uint64_t bxy[kChunk + 16];  // (x, y) pairs of the chunk's neighbours
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  for (int64_t r = 0; r < nrows; ++r) {
    const int64_t i = rows[r];
    const __m512 xi = _mm512_set1_ps(Y[2 * i]), yi = _mm512_set1_ps(Y[2 * i + 1]);
    __m512 ax = _mm512_setzero_ps(), ay = _mm512_setzero_ps();
    const int64_t end = indptr[i + 1];
    for (int64_t k0 = indptr[i]; k0 < end; k0 += kChunk) {
      const int64_t c = std::min(kChunk, end - k0);
      for (int64_t t = 0; t < c; ++t) {
        std::memcpy(&bxy[t], Y + 2 * static_cast<int64_t>(indices[k0 + t]), sizeof(uint64_t));
      }
      for (int64_t t = 0; t < c; t += 16) {
        const int64_t left = c - t;
        const __mmask16 m = left >= 16 ? static_cast<__mmask16>(0xFFFF)
                                       : static_cast<__mmask16>((1u << left) - 1);
        const __m512 lo = _mm512_load_ps(reinterpret_cast<const float*>(bxy + t));
        const __m512 hi = _mm512_load_ps(reinterpret_cast<const float*>(bxy + t + 8));
        const __m512 p = _mm512_maskz_loadu_ps(m, pvals + k0 + t);
        const __m512 dx = _mm512_maskz_sub_ps(m, xi, _mm512_permutex2var_ps(lo, even, hi));
        const __m512 dy = _mm512_maskz_sub_ps(m, yi, _mm512_permutex2var_ps(lo, odd, hi));
        const __m512 d2 = _mm512_fmadd_ps(dx, dx, _mm512_mul_ps(dy, dy));
        const __m512 pw = _mm512_div_ps(p, _mm512_add_ps(one, d2));
        ax = _mm512_fmadd_ps(pw, dx, ax);
        ay = _mm512_fmadd_ps(pw, dy, ay);
      }
    }
    attr[2 * i] = hsum16(ax);
    attr[2 * i + 1] = hsum16(ay);
  }
}

}  // namespace

const TsneKernels& tsne_kernels_avx512() {
  static const TsneKernels k{"avx512", &repulse_avx512, &attract_avx512};
  return k;
}

}  // namespace lf::tsne_detail
#endif  // LF_HAVE_X86_KERNELS
