// Batch-norm row kernels, avx512 build (ops/batch_norm_kernels.h, ops/batch_norm_kernel_impl.h).
#include "ops/batch_norm_kernels.h"

#ifdef LF_HAVE_X86_KERNELS
#define LF_BN_ISA_NAME "avx512"
#define LF_BN_TABLE bn_kernels_avx512
#include "ops/batch_norm_kernel_impl.h"
#endif
