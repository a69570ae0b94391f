// CUDA launcher of the uniform draws, plus its host-array entry (contract in ops/philox.h). The
// kernel, the geometry and the checks live in ops/philox_cuda.cuh, shared with the CPU emulator
// (emu/philox_cuda_emu.cpp). Integer arithmetic and an exact int-to-float conversion only, so the
// draws equal the CPU's bit for bit (no floating-point rounding to control).
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/check.h"
#include "core/cuda_utils.cuh"
#include "ops/philox.h"
#include "ops/philox_cuda.cuh"

namespace lf {

void uniform_cuda(float* u, int64_t n, uint64_t seed, uint64_t stream_id, uint64_t offset,
                  void* stream) {
  cuda::StreamLaunch l{static_cast<cudaStream_t>(stream)};
  gpu::philox_uniform_cuda_run(u, n, seed, stream_id, offset, 0, l);
  l.check("uniform_cuda");
}

void uniform_cuda_from_host(float* u, int64_t n, uint64_t seed, uint64_t stream_id, uint64_t offset,
                            int config) {
  gpu::philox_uniform_cuda_check(u, n, config);
  if (n == 0) return;
  cuda::DeviceBuffer d_u(static_cast<size_t>(n));
  cuda::StreamLaunch l{nullptr};
  gpu::philox_uniform_cuda_run(d_u.get(), n, seed, stream_id, offset, config, l);
  l.check("uniform_cuda_from_host");
  cuda::cuda_check(cudaStreamSynchronize(nullptr), "uniform kernel execution");
  cuda::cuda_check(
      cudaMemcpy(u, d_u.get(), static_cast<size_t>(n) * sizeof(float), cudaMemcpyDeviceToHost),
      "cudaMemcpy (device to host)");
}

}  // namespace lf
