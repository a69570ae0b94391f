// CUDA device queries declared in core/cuda_runtime.h.
#include <cuda_runtime.h>  // the CUDA runtime, not core/cuda_runtime.h (see that header)

#include "core/check.h"
#include "core/cuda_runtime.h"
#include "core/cuda_utils.cuh"

namespace lf {

using cuda::cuda_check;

bool cuda_compiled() { return true; }

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the error (no driver / no device) so later calls do not see it
    return 0;
  }
  return n;
}

std::string cuda_device_name(int dev) {
  const int n = cuda_device_count();
  LF_CHECK(dev >= 0 && dev < n, "cuda_device_name: device ", dev, " out of range (", n,
           " CUDA devices)");
  cudaDeviceProp prop;
  cuda_check(cudaGetDeviceProperties(&prop, dev), "cudaGetDeviceProperties");
  return prop.name;
}

}  // namespace lf
