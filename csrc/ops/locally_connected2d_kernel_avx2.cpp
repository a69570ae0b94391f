// avx2 build of the portable locally connected kernels (ops/locally_connected2d_kernels.h,
// ops/locally_connected2d_kernel.inc).
#include "ops/locally_connected2d_kernels.h"

#ifdef LF_HAVE_X86_KERNELS
namespace lf::lc2d_detail {
namespace {
// Register tiles for 16 ymm registers (a 16-lane vector is two of them).
#define LC2D_RB 4
#define LC2D_TB 4
#define LC2D_DR 2
#define LC2D_DT 2
#include "ops/locally_connected2d_kernel.inc"
}  // namespace

const Lc2dKernels& lc2d_kernels_avx2() {
  static const Lc2dKernels k{"avx2", &gemm_rows_portable, &gemm_rows_t_add_portable,
                             &dot_rows_portable};
  return k;
}

}  // namespace lf::lc2d_detail
#endif  // LF_HAVE_X86_KERNELS
