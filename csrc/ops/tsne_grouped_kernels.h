// Internal to the grouped Barnes-Hut t-SNE gradient (ops/tsne_grouped_cpu.cpp): the per-ISA
// kernel that evaluates a group's interaction list for each of its points.
//
// One translation unit per ISA (tsne_grouped_kernel_{scalar,avx2,avx512}.cpp), compiled with its
// own target flags, fills the table; the driver dispatches on lf::active_isa().
#pragma once

#include <cstdint>

#include "core/cpu_features.h"

namespace lf::tsne_detail {

// Interaction lists are padded with massless sources to a multiple of kListPad entries.
constexpr int64_t kListPad = 16;

struct TsneKernels {
  const char* isa;
  // For every target t < nt and sources j < m (m a multiple of kListPad), with
  //   dx = tx[t] - sx[j], dy = ty[t] - sy[j], q = 1 / (1 + dx^2 + dy^2):
  //   z[t] = sum_{j != t} sm[j] q,  rx[t] = sum_{j != t} sm[j] q^2 dx,  ry[t] likewise
  // in float32 with a fixed, ISA-specific summation order (so the results depend on the ISA
  // but not on the thread count). The first nt sources are the targets themselves (nt <= m):
  // source t is skipped for target t, so a point never meets itself (no 1 to subtract from
  // z[t] afterwards, which would cancel digits when z[t] is small). q is an IEEE division.
  void (*repulse)(const float* sx, const float* sy, const float* sm, int64_t m, const float* tx,
                  const float* ty, int64_t nt, float* z, float* rx, float* ry);
};

const TsneKernels& tsne_kernels_scalar();
#ifdef LF_HAVE_X86_KERNELS
const TsneKernels& tsne_kernels_avx2();
const TsneKernels& tsne_kernels_avx512();
#endif

inline const TsneKernels& tsne_kernels_for(Isa isa) {
#ifdef LF_HAVE_X86_KERNELS
  if (isa == Isa::avx512) return tsne_kernels_avx512();
  if (isa == Isa::avx2) return tsne_kernels_avx2();
#endif
  return tsne_kernels_scalar();
}

}  // namespace lf::tsne_detail
