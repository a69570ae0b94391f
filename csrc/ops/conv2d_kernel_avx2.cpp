// AVX2 build of the portable direct weight-gradient kernel (ops/conv2d_kernels.h,
// ops/conv2d_dot_portable.inc).
#include "ops/conv2d_kernels.h"

#ifdef LF_HAVE_X86_KERNELS
namespace lf::conv_detail {
namespace {
#include "ops/conv2d_dot_portable.inc"
}  // namespace

const ConvKernels& conv_kernels_avx2() {
  static const ConvKernels k{"avx2", &dot_rows_portable};
  return k;
}

}  // namespace lf::conv_detail
#endif  // LF_HAVE_X86_KERNELS
