// Batch-norm row kernels, baseline build (ops/batch_norm_kernels.h, ops/batch_norm_kernel_impl.h).
#include "ops/batch_norm_kernels.h"

#define LF_BN_ISA_NAME "scalar"
#define LF_BN_TABLE bn_kernels_scalar
#include "ops/batch_norm_kernel_impl.h"
