// CPU GEMM: the naive oracle and the packed, cache-blocked OpenMP driver.
//
// Blocking follows the BLIS/GotoBLAS structure. For each NC-wide column panel of op(B) and
// each KC-deep slice of K, the panel is packed once (shared by all threads) into NR-wide
// slivers; each thread then packs MC x KC blocks of op(A) into MR-tall slivers (private) and
// sweeps micro-tiles with the ISA's micro-kernel. The first K slice applies beta, later slices
// accumulate, and the last one runs the bias/activation epilogue on each micro-tile while it is
// still in L1 -- one pass over the output instead of three.
//
// Work split: threads take equal row ranges when there are enough rows (sharing the packed B
// panel, with a barrier per K slice); short-and-wide outputs such as 128 x 1000 are split over
// NR-column slivers instead, each thread packing only its own slivers, with no barrier at all.
// With very few rows B is not packed: the micro-kernel reads its rows in place. Every output
// element is reduced by one thread in a fixed k order, so the result does not depend on the
// number of threads.
//
// Packing buffers are per calling thread, grow to the largest problem seen and are reused
// (at most KC x NC floats for B, 12 MiB on the AVX-512 path, plus MC x KC per worker for A).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/check.h"
#include "core/cpu_features.h"
#include "core/interrupt.h"
#include "core/scratch.h"
#include "core/vec_math.h"
#include "ops/gemm.h"
#include "ops/gemm_kernels.h"

#ifdef LF_WITH_OPENMP
#include <omp.h>
#endif

namespace lf {

namespace {

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

void check_args(int64_t ldc, int64_t lda, bool trans_a, int64_t ldb, bool trans_b, int64_t M,
                int64_t N, int64_t K) {
  LF_CHECK(M >= 0 && N >= 0 && K >= 0, "gemm: negative size M=", M, " N=", N, " K=", K);
  LF_CHECK(ldc >= std::max<int64_t>(N, 1), "gemm: ldc=", ldc, " < N=", N);
  LF_CHECK(lda >= std::max<int64_t>(trans_a ? M : K, 1), "gemm: lda=", lda, " too small");
  LF_CHECK(ldb >= std::max<int64_t>(trans_b ? K : N, 1), "gemm: ldb=", ldb, " too small");
}

double act_ref(double v, Activation act) {
  switch (act) {
    case Activation::sigmoid: return 1.0 / (1.0 + std::exp(-v));
    case Activation::tanh: return std::tanh(v);
    case Activation::relu: return v < 0.0 ? 0.0 : v;
    default: return v;
  }
}

struct GemmPlan {
  const gemm_detail::GemmKernels* kt;
  const simd::VecMath* vm;  // the bias + activation epilogue of the same ISA
  float* C;
  int64_t ldc;
  const float* A;
  int64_t lda;
  bool trans_a;
  const float* B;
  int64_t ldb;
  bool trans_b;
  int64_t M, N, K;
  float alpha, beta;
  const float* bias;
  Activation act;
  float* b_pack;  // shared: kc x round_up(nc, NR); private: b_stride floats per thread
  float* a_pack;  // per thread: a_stride floats
  int64_t a_stride;
  int64_t nc;       // column panel width (NR multiple)
  int pm, pn;       // thread grid: pm row groups x pn column groups
  bool private_b;   // each thread packs only its own B slivers: no barriers at all
  bool b_in_place;  // private_b and full-width slivers are read from B itself, unpacked
  int64_t b_stride;
  int64_t kc;            // depth of the K slices
  InterruptPoll stop{};  // made on the calling thread: whether Ctrl-C may cut this call short
};

// Thread grid for nt threads. Short-and-wide outputs (few rows, many NR-column slivers) are split
// over columns only: each thread then owns whole columns of C, packs just its own B slivers and
// never waits for the others (no barrier per K slice; those cost most on small, fast GEMMs).
// Otherwise rows are split while every row group keeps >= 2 MR-tiles (the B panel is packed
// once, cooperatively, and shared), and any remaining threads split columns.
void thread_grid(int nt, int64_t M, int64_t N, int64_t MR, int64_t NR, int* pm, int* pn) {
  if (nt > 1 && M <= 16 * MR && M < N && ceil_div(N, NR) >= 2 * nt) {
    *pm = 1;
    *pn = nt;
    return;
  }
  const int64_t m_tiles = ceil_div(M, MR);
  int m = nt;
  while (m > 1 && (nt % m != 0 || m_tiles < 2 * m)) --m;
  *pm = m;
  *pn = nt / m;
}

// The body every thread runs. kTeam: run by a team inside gemm_forward_cpu's own parallel
// region, where the shared-B path uses the orphaned worksharing `omp for` and `omp barrier`
// (they bind to that region). The serial instantiation (kTeam = false, gemm_forward_serial and
// gemm_forward_cpu with one thread) compiles them out and requires a private B, so it contains
// no OpenMP construct at all and cannot bind to a region its caller may have open.
template <bool kTeam>
void gemm_worker(const GemmPlan& p, int tid) {
  const auto& kt = *p.kt;
  const int64_t MR = kt.mr, NR = kt.nr;
  const int tm = tid / p.pn, tn = tid % p.pn;
  // Equal row ranges (not whole MR tiles): the micro-kernels cost in proportion to the rows of
  // an edge tile, so e.g. 128 rows on 2 threads is 64 + 64 rather than 70 + 58.
  const int64_t r0 = p.M * tm / p.pm, r1 = p.M * (tm + 1) / p.pm;
  float* a_pack = p.a_pack + static_cast<int64_t>(tid) * p.a_stride;
  float* b_own = p.b_pack + static_cast<int64_t>(tid) * p.b_stride;  // private_b only
  const bool epilogue = p.bias != nullptr || p.act != Activation::none;

  for (int64_t jc = 0; jc < p.N; jc += p.nc) {
    const int64_t nc = std::min(p.nc, p.N - jc);
    const int64_t n_sl = ceil_div(nc, NR);
    const int64_t s0 = n_sl * tn / p.pn, s1 = n_sl * (tn + 1) / p.pn;
    for (int64_t pc = 0; pc < p.K; pc += p.kc) {
      const int64_t kc = std::min(p.kc, p.K - pc);
      // Sliver s of this panel lives at b_base + s * kc * NR.
      float* b_base;
      if (p.private_b) {
        b_base = b_own - s0 * kc * NR;
        for (int64_t s = s0; s < s1; ++s) {
          if (p.b_in_place && nc - s * NR >= NR) continue;
          kt.pack_b(b_base + s * kc * NR, p.B, p.ldb, p.trans_b, pc, jc + s * NR, kc,
                    std::min(NR, nc - s * NR));
        }
      } else if constexpr (kTeam) {
        b_base = p.b_pack;
#ifdef LF_WITH_OPENMP
#pragma omp for schedule(static)
#endif
        for (int64_t s = 0; s < n_sl; ++s) {
          if (p.stop()) continue;  // interrupted: skip the work, keep the barriers
          kt.pack_b(b_base + s * kc * NR, p.B, p.ldb, p.trans_b, pc, jc + s * NR, kc,
                    std::min(NR, nc - s * NR));
        }  // implicit barrier: the packed panel is complete
      } else {
        return;  // unreachable: the serial plan always has a private B (see gemm_run)
      }
      const float beta = pc == 0 ? p.beta : 1.0f;
      const bool last = pc + kc == p.K;
      if (r1 > r0) {
        // Equal MR-multiple blocks rather than MC-sized ones plus a thin remainder, which would
        // pull every B sliver into L1 for a few rows of work.
        const int64_t n_mb = ceil_div(r1 - r0, kt.mc);
        const int64_t mb = ceil_div(ceil_div(r1 - r0, n_mb), MR) * MR;
        for (int64_t ic = r0; ic < r1 && !p.stop(); ic += mb) {
          const int64_t mc = std::min(mb, r1 - ic);
          kt.pack_a(a_pack, p.A, p.lda, p.trans_a, ic, pc, mc, kc);
          for (int64_t s = s0; s < s1; ++s) {
            const int64_t j = jc + s * NR;
            const int n = static_cast<int>(std::min(NR, p.N - j));
            const bool in_place = p.b_in_place && n == NR;
            const float* bp = in_place ? p.B + pc * p.ldb + j : b_base + s * kc * NR;
            const int64_t ldbp = in_place ? p.ldb : NR;
            for (int64_t ir = 0; ir < mc; ir += MR) {
              const int m = static_cast<int>(std::min(MR, mc - ir));
              float* c = p.C + (ic + ir) * p.ldc + j;
              kt.micro(kc, a_pack + ir * kc, bp, ldbp, c, p.ldc, m, n, p.alpha, beta);
              if (last && epilogue) {
                p.vm->bias_activation(c, p.ldc, m, n, p.bias ? p.bias + j : nullptr, p.act);
              }
            }
          }
        }
      }
#ifdef LF_WITH_OPENMP
      if constexpr (kTeam) {
        if (!p.private_b) {
#pragma omp barrier
        }
      }
#endif
    }
  }
}

}  // namespace

void gemm_forward_naive(float* C, int64_t ldc, const float* A, int64_t lda, bool trans_a,
                        const float* B, int64_t ldb, bool trans_b, int64_t M, int64_t N, int64_t K,
                        float alpha, float beta, const float* bias, Activation act) {
  check_args(ldc, lda, trans_a, ldb, trans_b, M, N, K);
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      double s = 0.0;
      if (alpha != 0.0f) {
        for (int64_t k = 0; k < K; ++k) {
          const double a = trans_a ? A[k * lda + i] : A[i * lda + k];
          const double b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
          s += a * b;
        }
      }
      double v = static_cast<double>(alpha) * s;
      if (beta != 0.0f) v += static_cast<double>(beta) * C[i * ldc + j];
      if (bias) v += bias[j];
      C[i * ldc + j] = static_cast<float>(act_ref(v, act));
    }
  }
}

namespace {

// Both entry points. num_threads <= 1 (always, from gemm_forward_serial) takes the serial path:
// the plan below with pm = pn = 1 and a private B, run by gemm_worker<false> on the calling
// thread, with this thread's own packing buffers -- no OpenMP construct is reached.
void gemm_run(float* C, int64_t ldc, const float* A, int64_t lda, bool trans_a, const float* B,
              int64_t ldb, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, float beta,
              const float* bias, Activation act, int num_threads) {
  check_args(ldc, lda, trans_a, ldb, trans_b, M, N, K);
  if (M == 0 || N == 0) return;
  const Isa isa = active_isa();
  const auto& kt = gemm_detail::kernels_for(isa);
  const auto& vm = simd::vec_math_for(isa);

  if (K == 0 || alpha == 0.0f) {
    // Nothing to multiply: C = beta * C (zeros when beta == 0, whatever C held), then epilogue.
    for (int64_t i = 0; i < M; ++i) {
      float* c = C + i * ldc;
      if (beta == 0.0f) {
        std::memset(c, 0, static_cast<size_t>(N) * sizeof(float));
      } else if (beta != 1.0f) {
        for (int64_t j = 0; j < N; ++j) c[j] *= beta;
      }
    }
    if (bias != nullptr || act != Activation::none) vm.bias_activation(C, ldc, M, N, bias, act);
    return;
  }

  const int64_t MR = kt.mr, NR = kt.nr;
  // Few rows (at most 7 micro-tiles: the convolution's per-image GEMMs, small batches of a dense
  // layer): slices of at most kSmallMKc, so that the kc x NR sliver of B (48 KiB) stays in L1
  // while the row tiles sweep it; the deep KC, which saves passes over a large C, buys nothing
  // when C is a few rows. Measured on a 2-core AVX-512 Xeon VM, one thread, GFLOP/s with KC =
  // 1024 / 384: 64 x 196 x 800 53 / 92, 64 x 256 x 576 67 / 108, 64 x 512 x 3136 53 / 72.
  // The slices fix the order of the sums, so this is a function of the shapes only.
  constexpr int64_t kSmallMKc = 384;
  const int64_t kc_blk = M <= 7 * MR ? std::min(kt.kc, kSmallMKc) : kt.kc;
  const int64_t kc_max = std::min(kc_blk, K);
  // Equal NR-multiple column panels (N = 4096 with NC = 3072 gives 2 x 2048, not 3072 + 1024).
  const int64_t nc_max = ceil_div(ceil_div(N, ceil_div(N, kt.nc)), NR) * NR;
  const int64_t mc_max = std::min(kt.mc, ceil_div(M, MR) * MR);

  // Threads: no more than the work can feed (about 1 MFLOP each), and at most what was asked.
  const double flops = 2.0 * static_cast<double>(M) * N * K;
  int nt = std::max(1, num_threads);
  nt = static_cast<int>(std::min<double>(nt, std::max(1.0, flops / 1.0e6)));
  int pm = 1, pn = 1;
  thread_grid(nt, M, N, MR, NR, &pm, &pn);
  // Private B: each thread holds at most ceil(slivers / pn) slivers of a panel.
  const int64_t b_stride = kc_max * ceil_div(ceil_div(nc_max, NR), pn) * NR;

  thread_local ScratchBuffer b_buf, a_buf;
  GemmPlan plan{&kt,    &vm, C, ldc,   A,     lda,      trans_a, B,       ldb,     trans_b,
                M,      N,   K, alpha, beta,  bias,     act,     nullptr, nullptr, mc_max * kc_max,
                nc_max, 1,   1, true,  false, b_stride, kc_blk};
  // With few rows each B sliver serves at most 7 micro-tiles, and packing it costs more than
  // reading row-major B in place (2-3 cache lines per k step instead of 2). Measured on AVX-512,
  // 2 threads: M = 16..96 gain 7-24% in place; M = 128 loses 1-4% (benchmarks/RESULTS.md).
  // But only for short rows: with long ones every k step lands on another page (and at ldb a
  // multiple of 1024 floats, on the same L1 sets), so the kc rows of a sliver thrash the TLB and
  // L1. Measured on a 2-core AVX-512 Xeon VM, one thread, in place / packed GFLOP/s: 96 x 1024 x
  // 1024 23 / 61, 64 x 512 x 3136 33 / 55, 64 x 512 x 784 54 / 58, 32 x 1000 x 784 40 / 45,
  // against 64 x 500 x 500 69 / 66, 64 x 256 x 576 78 / 75, 64 x 196 x 800 60 / 58. The same
  // arithmetic in the same order either way: the choice never changes the bits.
  constexpr int64_t kInPlaceMaxLdb = 384;
  plan.b_in_place = !trans_b && M <= 7 * MR && ldb <= kInPlaceMaxLdb;
  // Packing buffers of the calling thread, never touched inside a parallel region except
  // through these pointers.
  plan.b_pack = b_buf.get(std::max(kc_max * nc_max, b_stride * nt));
  plan.a_pack = a_buf.get(plan.a_stride * nt);

#ifdef LF_WITH_OPENMP
  if (nt > 1) {
#pragma omp parallel num_threads(nt)
    {
      GemmPlan local = plan;
      const int team = omp_get_num_threads();
      if (team == nt) {
        local.pm = pm;
        local.pn = pn;
        local.private_b = pm == 1;
        local.b_in_place = plan.b_in_place && local.private_b;
      } else {
        // The runtime granted fewer threads than asked (e.g. nested parallelism): every thread
        // derives the same shared-B grid from the team it actually got.
        thread_grid(team, M, N, MR, NR, &local.pm, &local.pn);
        local.private_b = false;
        local.b_in_place = false;
      }
      gemm_worker<true>(local, omp_get_thread_num());
    }
    return;
  }
#endif
  gemm_worker<false>(plan, 0);  // plan.private_b is true: pm = pn = 1
}

}  // namespace

void gemm_forward_cpu(float* C, int64_t ldc, const float* A, int64_t lda, bool trans_a,
                      const float* B, int64_t ldb, bool trans_b, int64_t M, int64_t N, int64_t K,
                      float alpha, float beta, const float* bias, Activation act, int num_threads) {
  gemm_run(C, ldc, A, lda, trans_a, B, ldb, trans_b, M, N, K, alpha, beta, bias, act, num_threads);
}

void gemm_forward_serial(float* C, int64_t ldc, const float* A, int64_t lda, bool trans_a,
                         const float* B, int64_t ldb, bool trans_b, int64_t M, int64_t N, int64_t K,
                         float alpha, float beta, const float* bias, Activation act) {
  gemm_run(C, ldc, A, lda, trans_a, B, ldb, trans_b, M, N, K, alpha, beta, bias, act, 1);
}

}  // namespace lf
