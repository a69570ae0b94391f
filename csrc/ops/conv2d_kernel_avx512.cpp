// AVX-512 direct weight-gradient kernel (ops/conv2d_kernels.h): blocks of R <= 4 rows x T <= 6
// taps held in R*T zmm accumulators; per 16-float step, R loads of A and T unaligned loads of B
// feed R*T FMAs. Each accumulator is reduced by hsum16 (a fixed tree: halves, quarters, ...).
#include "ops/conv2d_kernels.h"

#include <array>
#include <utility>

#ifdef LF_HAVE_X86_KERNELS
#include <immintrin.h>

namespace lf::conv_detail {
namespace {

constexpr int kRB = 4, kTB = 6;

inline float hsum16(__m512 v) {  // fixed order: 256-bit halves, 128-bit halves, then pairs
  __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

template <int R, int T>
void dot_block(const float* A, int64_t lda, const float* B, const int64_t* boff, int64_t L,
               float* C, int64_t ldc, bool accumulate) {
  __m512 acc[R][T];
  const float* b[T];
#pragma GCC unroll 6
  for (int t = 0; t < T; ++t) b[t] = B + boff[t];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 6
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  }
  for (int64_t q = 0; q < L; q += 16) {
    __m512 vb[T];
#pragma GCC unroll 6
    for (int t = 0; t < T; ++t) vb[t] = _mm512_loadu_ps(b[t] + q);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const __m512 va = _mm512_loadu_ps(A + r * lda + q);
#pragma GCC unroll 6
      for (int t = 0; t < T; ++t) acc[r][t] = _mm512_fmadd_ps(va, vb[t], acc[r][t]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) {
      const float s = hsum16(acc[r][t]);
      float* c = C + r * ldc + t;
      *c = accumulate ? *c + s : s;
    }
  }
}

using BlockFn = void (*)(const float*, int64_t, const float*, const int64_t*, int64_t, float*,
                         int64_t, bool);

template <int R, int... Ts>
constexpr std::array<BlockFn, sizeof...(Ts)> row_of(std::integer_sequence<int, Ts...>) {
  return {&dot_block<R, Ts + 1>...};
}
template <int... Rs>
constexpr auto make_blocks(std::integer_sequence<int, Rs...>) {
  return std::array<std::array<BlockFn, kTB>, sizeof...(Rs)>{
      row_of<Rs + 1>(std::make_integer_sequence<int, kTB>{})...};
}
constexpr auto kBlocks = make_blocks(std::make_integer_sequence<int, kRB>{});

void dot_rows_avx512(const float* A, int64_t lda, int64_t m, const float* B, const int64_t* boff,
                     int64_t n, int64_t L, float* C, int64_t ldc, bool accumulate) {
  for (int64_t r0 = 0; r0 < m; r0 += kRB) {
    const int64_t rb = m - r0 < kRB ? m - r0 : kRB;
    for (int64_t t0 = 0; t0 < n; t0 += kTB) {
      const int64_t tb = n - t0 < kTB ? n - t0 : kTB;
      kBlocks[rb - 1][tb - 1](A + r0 * lda, lda, B, boff + t0, L, C + r0 * ldc + t0, ldc,
                              accumulate);
    }
  }
}

}  // namespace

const ConvKernels& conv_kernels_avx512() {
  static const ConvKernels k{"avx512", &dot_rows_avx512};
  return k;
}

}  // namespace lf::conv_detail
#endif  // LF_HAVE_X86_KERNELS
