// scalar build of the portable locally connected kernels (ops/locally_connected2d_kernels.h,
// ops/locally_connected2d_kernel.inc).
#include "ops/locally_connected2d_kernels.h"

namespace lf::lc2d_detail {
namespace {
// Register tiles for 16 xmm registers (a 16-lane vector is four of them).
#define LC2D_RB 2
#define LC2D_TB 2
#define LC2D_DR 1
#define LC2D_DT 2
#include "ops/locally_connected2d_kernel.inc"
}  // namespace

const Lc2dKernels& lc2d_kernels_scalar() {
  static const Lc2dKernels k{"scalar", &gemm_rows_portable, &gemm_rows_t_add_portable,
                             &dot_rows_portable};
  return k;
}

}  // namespace lf::lc2d_detail
