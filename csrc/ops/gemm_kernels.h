// Internal to the CPU GEMM: the per-ISA kernel table the driver (gemm_cpu.cpp) dispatches on.
//
// Each ISA's translation unit (gemm_kernel_{scalar,avx2,avx512}.cpp) is compiled with its own
// target flags and fills one table. The driver is ISA-agnostic: it blocks the problem with
// the table's MC/KC/NC, packs with its pack functions and calls its micro-kernel.
#pragma once

#include <cstdint>

#include "core/cpu_features.h"
#include "ops/gemm.h"

namespace lf::gemm_detail {

struct GemmKernels {
  const char* isa;
  int mr, nr;          // micro-tile: MR rows x NR columns of C
  int64_t mc, kc, nc;  // cache blocks: MC rows of A, KC depth, NC columns of B

  // Packs op(A)[i0:i0+mc, k0:k0+kc] into ceil(mc/MR) slivers of kc x MR (k-major), zero-padded.
  void (*pack_a)(float* dst, const float* A, int64_t lda, bool trans_a, int64_t i0, int64_t k0,
                 int64_t mc, int64_t kc);
  // Packs op(B)[k0:k0+kc, j0:j0+nc] into ceil(nc/NR) slivers of kc x NR (k-major), zero-padded.
  void (*pack_b)(float* dst, const float* B, int64_t ldb, bool trans_b, int64_t k0, int64_t j0,
                 int64_t kc, int64_t nc);
  // C[0:m, 0:n] = alpha * Ap @ Bp + beta * C   (m <= MR, n <= NR; C not read when beta == 0).
  // Row k of the B sliver is Bp + k * ldbp: NR for a packed sliver, or ldb when the kernel reads
  // a row-major B in place (then all NR columns must exist: n == NR).
  void (*micro)(int64_t kc, const float* Ap, const float* Bp, int64_t ldbp, float* C, int64_t ldc,
                int m, int n, float alpha, float beta);
};

const GemmKernels& kernels_scalar();
#ifdef LF_HAVE_X86_KERNELS
const GemmKernels& kernels_avx2();
const GemmKernels& kernels_avx512();
#endif

inline const GemmKernels& kernels_for(Isa isa) {
#ifdef LF_HAVE_X86_KERNELS
  if (isa == Isa::avx512) return kernels_avx512();
  if (isa == Isa::avx2) return kernels_avx2();
#endif
  return kernels_scalar();
}

}  // namespace lf::gemm_detail
