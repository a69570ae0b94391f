// AVX-512 interaction kernel of the grouped Barnes-Hut t-SNE gradient (ops/tsne_grouped_kernels.h):
// two targets per pass over the list (shared loads, six independent accumulator chains), 16
// sources per vector.
#include "ops/tsne_grouped_kernels.h"

#include <algorithm>

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
  // 1 + dx^2 + dy^2 in two FMAs (ALU throughput is the limit here, not the division).
  const __m512 q = _mm512_div_ps(one, _mm512_fmadd_ps(dx, dx, _mm512_fmadd_ps(dy, dy, one)));
  const __m512 mq = _mm512_mul_ps(vm, q);
  const __m512 mq2 = _mm512_mul_ps(mq, q);
  a.z = _mm512_add_ps(a.z, mq);
  a.x = _mm512_fmadd_ps(mq2, dx, a.x);
  a.y = _mm512_fmadd_ps(mq2, dy, a.y);
}

void repulse_avx512(const float* sx, const float* sy, const float* sm, int64_t m, const float* tx,
                    const float* ty, int64_t nt, float* z, float* rx, float* ry) {
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

}  // namespace

const TsneKernels& tsne_kernels_avx512() {
  static const TsneKernels k{"avx512", &repulse_avx512};
  return k;
}

}  // namespace lf::tsne_detail
#endif  // LF_HAVE_X86_KERNELS
