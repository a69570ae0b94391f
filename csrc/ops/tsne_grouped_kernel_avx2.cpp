// AVX2+FMA interaction kernel of the grouped Barnes-Hut t-SNE gradient
// (ops/tsne_grouped_kernels.h): two targets per pass over the list (shared loads, six independent
// accumulator chains), 8 sources per vector.
#include "ops/tsne_grouped_kernels.h"

#include <algorithm>

#ifdef LF_HAVE_X86_KERNELS
#include <immintrin.h>

namespace lf::tsne_detail {
namespace {

inline float hsum8(__m256 v) {  // fixed order: halves, then pairs, then the last two
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

// All-ones lanes of the source block starting at j, except target t itself (zero).
inline __m256 not_self(int64_t t, int64_t j) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const auto l = static_cast<int>(std::clamp<int64_t>(t - j, -1, 8));
  return _mm256_castsi256_ps(
      _mm256_xor_si256(_mm256_cmpeq_epi32(lane, _mm256_set1_epi32(l)), _mm256_set1_epi32(-1)));
}

struct Acc {
  __m256 z = _mm256_setzero_ps(), x = _mm256_setzero_ps(), y = _mm256_setzero_ps();
};

inline void interact(Acc& a, __m256 px, __m256 py, __m256 vx, __m256 vy, __m256 vm) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 dx = _mm256_sub_ps(px, vx), dy = _mm256_sub_ps(py, vy);
  // 1 + dx^2 + dy^2 in two FMAs (ALU throughput is the limit here, not the division).
  const __m256 q = _mm256_div_ps(one, _mm256_fmadd_ps(dx, dx, _mm256_fmadd_ps(dy, dy, one)));
  const __m256 mq = _mm256_mul_ps(vm, q);
  const __m256 mq2 = _mm256_mul_ps(mq, q);
  a.z = _mm256_add_ps(a.z, mq);
  a.x = _mm256_fmadd_ps(mq2, dx, a.x);
  a.y = _mm256_fmadd_ps(mq2, dy, a.y);
}

void repulse_avx2(const float* sx, const float* sy, const float* sm, int64_t m, const float* tx,
                  const float* ty, int64_t nt, float* z, float* rx, float* ry) {
  int64_t t = 0;
  for (; t + 2 <= nt; t += 2) {
    const __m256 px0 = _mm256_set1_ps(tx[t]), py0 = _mm256_set1_ps(ty[t]);
    const __m256 px1 = _mm256_set1_ps(tx[t + 1]), py1 = _mm256_set1_ps(ty[t + 1]);
    Acc a0, a1;
    for (int64_t j = 0; j < m; j += 8) {
      const __m256 vx = _mm256_loadu_ps(sx + j), vy = _mm256_loadu_ps(sy + j);
      const __m256 vm = _mm256_loadu_ps(sm + j);
      interact(a0, px0, py0, vx, vy, _mm256_and_ps(not_self(t, j), vm));
      interact(a1, px1, py1, vx, vy, _mm256_and_ps(not_self(t + 1, j), vm));
    }
    z[t] = hsum8(a0.z), rx[t] = hsum8(a0.x), ry[t] = hsum8(a0.y);
    z[t + 1] = hsum8(a1.z), rx[t + 1] = hsum8(a1.x), ry[t + 1] = hsum8(a1.y);
  }
  for (; t < nt; ++t) {
    const __m256 px = _mm256_set1_ps(tx[t]), py = _mm256_set1_ps(ty[t]);
    Acc a;
    for (int64_t j = 0; j < m; j += 8) {
      interact(a, px, py, _mm256_loadu_ps(sx + j), _mm256_loadu_ps(sy + j),
               _mm256_and_ps(not_self(t, j), _mm256_loadu_ps(sm + j)));
    }
    z[t] = hsum8(a.z), rx[t] = hsum8(a.x), ry[t] = hsum8(a.y);
  }
}

}  // namespace

const TsneKernels& tsne_kernels_avx2() {
  static const TsneKernels k{"avx2", &repulse_avx2};
  return k;
}

}  // namespace lf::tsne_detail
#endif  // LF_HAVE_X86_KERNELS
