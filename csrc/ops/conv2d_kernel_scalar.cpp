// Scalar build of the portable direct weight-gradient kernel (ops/conv2d_kernels.h,
// ops/conv2d_dot_portable.inc).
#include "ops/conv2d_kernels.h"

namespace lf::conv_detail {
namespace {
#include "ops/conv2d_dot_portable.inc"
}  // namespace

const ConvKernels& conv_kernels_scalar() {
  static const ConvKernels k{"scalar", &dot_rows_portable};
  return k;
}

}  // namespace lf::conv_detail
