// CPU GEMM: the naive oracle and the packed, cache-blocked OpenMP driver.
//
// Blocking follows the BLIS/GotoBLAS structure. For each NC-wide column panel of op(B) and
// each KC-deep slice of K, the panel is packed once (shared by all threads) into NR-wide
// slivers; each thread then packs MC x KC blocks of op(A) into MR-tall slivers (private) and
// sweeps micro-tiles with the ISA's micro-kernel. The first K slice applies beta, later slices
// accumulate, and the last one runs the bias/activation epilogue on each micro-tile while it is
// still in L1 -- one pass over the output instead of three.
//
// Work split: threads take contiguous ranges of MR-row tiles when there are enough rows,
// otherwise ranges of NR-column slivers (short-and-wide outputs such as 128 x 1000). Every
// output element is reduced by one thread in a fixed k order, so the result does not depend
// on the number of threads.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <cstdio>

#include "core/check.h"
#include "core/cpu_features.h"
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

// A 64-byte aligned scratch buffer that grows and is reused, so hot calls do not pay for
// fresh pages. One per calling thread (thread_local below); never touched inside a parallel
// region except through the pointer handed out before it.
class ScratchBuffer {
 public:
  ~ScratchBuffer() { std::free(ptr_); }
  float* get(size_t n_floats) {
    if (n_floats > cap_) {
      std::free(ptr_);
      ptr_ = nullptr;
      cap_ = 0;
      const size_t bytes = ((n_floats * sizeof(float) + 63) / 64) * 64;
      ptr_ = static_cast<float*>(std::aligned_alloc(64, bytes));
      LF_CHECK_RT(ptr_ != nullptr, "gemm: cannot allocate ", bytes, " bytes of packing buffer");
      cap_ = n_floats;
    }
    return ptr_;
  }

 private:
  float* ptr_ = nullptr;
  size_t cap_ = 0;
};

struct GemmPlan {
  const gemm_detail::GemmKernels* kt;
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
  float* b_pack;       // kc x round_up(nc, NR), shared
  float* a_pack;       // per thread: a_stride floats
  int64_t a_stride;
  int pm, pn;          // thread grid: pm row groups x pn column groups
};

// Thread grid for nt threads: split rows while every row group keeps >= 2 MR-tiles, and the
// rest of the threads over columns.
void thread_grid(int nt, int64_t m_tiles, int* pm, int* pn) {
  int m = nt;
  while (m > 1 && (nt % m != 0 || m_tiles < 2 * m)) --m;
  *pm = m;
  *pn = nt / m;
}

// The body every thread runs. The worksharing `omp for` and `omp barrier` are orphaned: inside
// a parallel region they bind to it, and called outside one they run as a team of one.
void gemm_worker(const GemmPlan& p, int tid) {
  const auto& kt = *p.kt;
  const int64_t MR = kt.mr, NR = kt.nr;
  const int tm = tid / p.pn, tn = tid % p.pn;
  const int64_t m_tiles = ceil_div(p.M, MR);
  const int64_t r0 = std::min(p.M, (m_tiles * tm / p.pm) * MR);
  const int64_t r1 = std::min(p.M, (m_tiles * (tm + 1) / p.pm) * MR);
  float* a_pack = p.a_pack + static_cast<int64_t>(tid) * p.a_stride;
  const bool epilogue = p.bias != nullptr || p.act != Activation::none;

  for (int64_t jc = 0; jc < p.N; jc += kt.nc) {
    const int64_t nc = std::min(kt.nc, p.N - jc);
    const int64_t n_sl = ceil_div(nc, NR);
    const int64_t s0 = n_sl * tn / p.pn, s1 = n_sl * (tn + 1) / p.pn;
    for (int64_t pc = 0; pc < p.K; pc += kt.kc) {
      const int64_t kc = std::min(kt.kc, p.K - pc);
#ifdef LF_WITH_OPENMP
#pragma omp for schedule(static)
#endif
      for (int64_t s = 0; s < n_sl; ++s) {
        kt.pack_b(p.b_pack + s * kc * NR, p.B, p.ldb, p.trans_b, pc, jc + s * NR, kc,
                  std::min(NR, nc - s * NR));
      }  // implicit barrier: the packed panel is complete
      const float beta = pc == 0 ? p.beta : 1.0f;
      const bool last = pc + kc == p.K;
      {
        // Equal MR-multiple blocks rather than MC-sized ones plus a thin remainder, which would
        // pull every B sliver into L1 for a few rows of work.
        const int64_t n_mb = ceil_div(r1 - r0, kt.mc);
        const int64_t mb = ceil_div(ceil_div(r1 - r0, n_mb), MR) * MR;
        for (int64_t ic = r0; ic < r1; ic += mb) {
          const int64_t mc = std::min(mb, r1 - ic);
          kt.pack_a(a_pack, p.A, p.lda, p.trans_a, ic, pc, mc, kc);
          for (int64_t s = s0; s < s1; ++s) {
            const int64_t j = jc + s * NR;
            const int n = static_cast<int>(std::min(NR, p.N - j));
            const float* bp = p.b_pack + s * kc * NR;
            for (int64_t ir = 0; ir < mc; ir += MR) {
              const int m = static_cast<int>(std::min(MR, mc - ir));
              float* c = p.C + (ic + ir) * p.ldc + j;
              kt.micro(kc, a_pack + ir * kc, bp, c, p.ldc, m, n, p.alpha, beta);
              if (last && epilogue) {
                kt.epilogue(c, p.ldc, m, n, p.bias ? p.bias + j : nullptr, p.act);
              }
            }
          }
        }
      }
#ifdef LF_WITH_OPENMP
#pragma omp barrier
#endif
    }
  }
}

}  // namespace

void gemm_forward_naive(float* C, int64_t ldc, const float* A, int64_t lda, bool trans_a,
                        const float* B, int64_t ldb, bool trans_b, int64_t M, int64_t N,
                        int64_t K, float alpha, float beta, const float* bias, Activation act) {
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

void gemm_forward_cpu(float* C, int64_t ldc, const float* A, int64_t lda, bool trans_a,
                      const float* B, int64_t ldb, bool trans_b, int64_t M, int64_t N,
                      int64_t K, float alpha, float beta, const float* bias, Activation act,
                      int num_threads) {
  check_args(ldc, lda, trans_a, ldb, trans_b, M, N, K);
  if (M == 0 || N == 0) return;
  const auto& kt0 = gemm_detail::kernels_for(active_isa());
  static gemm_detail::GemmKernels ktt = kt0;
  if (const char* e = std::getenv("LF_TUNE")) { long a,b,c; if (sscanf(e, "%ld,%ld,%ld", &a,&b,&c)==3) { ktt = kt0; ktt.mc=a; ktt.kc=b; ktt.nc=c; } }
  const auto& kt = std::getenv("LF_TUNE") ? ktt : kt0;

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
    if (bias != nullptr || act != Activation::none) kt.epilogue(C, ldc, M, N, bias, act);
    return;
  }

  const int64_t MR = kt.mr, NR = kt.nr;
  const int64_t kc_max = std::min(kt.kc, K);
  const int64_t nc_max = std::min(kt.nc, ceil_div(N, NR) * NR);
  const int64_t mc_max = std::min(kt.mc, ceil_div(M, MR) * MR);

  // Threads: no more than the work can feed (about 1 MFLOP each), and at most what was asked.
  const double flops = 2.0 * static_cast<double>(M) * N * K;
  int nt = std::max(1, num_threads);
  nt = static_cast<int>(std::min<double>(nt, std::max(1.0, flops / 1.0e6)));
  thread_local ScratchBuffer b_buf, a_buf;
  GemmPlan plan{&kt, C, ldc, A, lda, trans_a, B, ldb, trans_b, M, N, K, alpha, beta, bias, act,
                nullptr, nullptr, mc_max * kc_max, 1, 1};
  plan.b_pack = b_buf.get(static_cast<size_t>(kc_max * nc_max));
  plan.a_pack = a_buf.get(static_cast<size_t>(plan.a_stride * nt));

#ifdef LF_WITH_OPENMP
  if (nt > 1) {
#pragma omp parallel num_threads(nt)
    {
      // The runtime may grant fewer threads than asked; every thread derives the same grid
      // from the team size it actually got.
      GemmPlan local = plan;
      thread_grid(omp_get_num_threads(), ceil_div(M, MR), &local.pm, &local.pn);
      gemm_worker(local, omp_get_thread_num());
    }
    return;
  }
#endif
  gemm_worker(plan, 0);
}

}  // namespace lf
