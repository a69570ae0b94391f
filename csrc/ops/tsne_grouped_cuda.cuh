// Device side of the CUDA t-SNE optimiser step (contracts in ops/tsne_grouped.h, CUDA section),
// plus the host-side pieces shared by the launcher (ops/tsne_grouped_cuda.cu, lf::gpu) and the
// emulator (emu/tsne_grouped_cuda_emu.cpp, lf::emu): the argument checks, the launch geometry and
// the dispatch. The kernels use only the emulated subset of emu/cuda_emu.h: double arithmetic,
// LF_SHARED + __syncthreads(); no atomics, no warp functions.
//
//   tsne_to_float32_kernel: one thread per coordinate (grid-stride): y32 = float(Y).
//   tsne_finite_kernel<T>: ONE block of T threads; thread t checks the elements t, t + T, ... of
//     the gradient, the block ANDs the flags through shared memory (thread 0, fixed order) and
//     writes *finite = 1 when every element is finite, else 0.
//   tsne_step_kernel: one thread per coordinate (grid-stride), skipped entirely when *finite is 0:
//     TsneBarnesHut::step()'s update of that coordinate, the same double operations in the same
//     order (the .cu is compiled with -fmad=false), so Y, update and gains equal the CPU's bit for
//     bit given the same gradient.
//   tsne_step_fail_kernel: one thread; *finite = 0 and *kl = NaN (a non-finite float32(Y)).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "core/check.h"
#include "core/cuda_subset.h"  // LF_KERNEL_NS, LF_SHARED
#include "ops/tsne_grouped.h"

namespace lf {

// Host-side checks of the sizes and scalars (the launchers and the emulator; invalid_argument).
inline void tsne_step_cuda_check_params(int64_t n, double momentum, double learning_rate,
                                        double min_gain, int config, const char* who) {
  LF_CHECK(n >= 1, who, ": need at least 1 point, got n = ", n);
  LF_CHECK(std::isfinite(momentum) && std::isfinite(learning_rate) && std::isfinite(min_gain), who,
           ": momentum, learning_rate and min_gain must be finite, got ", momentum, ", ",
           learning_rate, ", ", min_gain);
  LF_CHECK(config >= 0 && config < kTsneStepCudaConfigs, who, ": config must be in [0, ",
           kTsneStepCudaConfigs, "), got ", config);
}

}  // namespace lf

namespace lf::LF_KERNEL_NS {

struct TsneStepCudaGeometry {
  int threads;        // the per-coordinate kernels
  int64_t cap;        // at most this many blocks (grid-stride beyond)
  int check_threads;  // the one finiteness block (a template argument: 256 or 32)
};

// config 0: the device's; config 1: small blocks and at most 2 of them, so the emulator tests run
// several grid-stride rounds, ragged blocks and several rounds of the finiteness check.
inline TsneStepCudaGeometry tsne_step_cuda_geometry(int config) {
  if (config == 0) return {256, int64_t{1} << 20, 256};
  return {32, 2, 32};
}

inline dim3 tsne_step_cuda_grid(int64_t work, int threads, int64_t cap) {
  int64_t blocks = (work + threads - 1) / threads;
  if (blocks > cap) blocks = cap;
  if (blocks < 1) blocks = 1;
  return dim3(static_cast<unsigned>(blocks));
}

// y32[k] = float(Y[k]), k < m (round to nearest, as static_cast on the CPU).
__global__ void tsne_to_float32_kernel(float* __restrict__ y32, const double* __restrict__ Y,
                                       int64_t m) {
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t k = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; k < m; k += step) {
    y32[k] = static_cast<float>(Y[k]);
  }
}

// *finite = 1 iff every grad[k], k < m, is finite. g - g is 0 for finite g and NaN for an
// infinity or a NaN (no fast-math here: the comparison is not folded away).
template <int T>
__global__ void tsne_finite_kernel(int32_t* finite, const float* __restrict__ grad, int64_t m) {
  LF_SHARED(int32_t, ok, [T]);
  const int t = static_cast<int>(threadIdx.x);
  int32_t mine = 1;
  for (int64_t k = t; k < m; k += T) {
    const float g = grad[k];
    if (!(g - g == 0.0f)) mine = 0;
  }
  ok[t] = mine;
  __syncthreads();
  if (t == 0) {
    int32_t all = 1;
    for (int k = 0; k < T; ++k) all &= ok[k];
    *finite = all;
  }
}

// TsneBarnesHut::step()'s update, coordinate k < m, when *finite (ops/tsne_grouped_cpu.cpp).
__global__ void tsne_step_kernel(double* __restrict__ Y, double* __restrict__ update,
                                 double* __restrict__ gains, const float* __restrict__ grad,
                                 const int32_t* __restrict__ finite, int64_t m, double momentum,
                                 double learning_rate, double min_gain) {
  if (*finite == 0) return;
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t k = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; k < m; k += step) {
    const double g = grad[k];
    double gk = update[k] * g < 0.0 ? gains[k] + 0.2 : gains[k] * 0.8;
    gk = gk < min_gain ? min_gain : gk;  // std::max(gk, min_gain)
    gains[k] = gk;
    const double u = update[k] * momentum - (learning_rate * gk) * g;
    update[k] = u;
    Y[k] += u;
  }
}

__global__ void tsne_step_fail_kernel(int32_t* finite, double* kl, double nan) {
  *finite = 0;
  if (kl != nullptr) *kl = nan;
}

// The finiteness check and the step (both launches) through launch(grid, block, kernel, args...)
// (a real <<<>>> launch or the emulator's); every pointer in the launch's memory, n x 2 arrays.
template <class Launch>
void tsne_step_cuda_run(double* Y, double* update, double* gains, int32_t* finite,
                        const float* grad, int64_t n, double momentum, double learning_rate,
                        double min_gain, int config, Launch&& launch) {
  tsne_step_cuda_check_params(n, momentum, learning_rate, min_gain, config, "tsne_step_cuda");
  const TsneStepCudaGeometry g = tsne_step_cuda_geometry(config);
  const int64_t m = 2 * n;
  if (g.check_threads == 256) {
    launch(dim3(1), dim3(256), &tsne_finite_kernel<256>, finite, grad, m);
  } else {
    launch(dim3(1), dim3(32), &tsne_finite_kernel<32>, finite, grad, m);
  }
  launch(tsne_step_cuda_grid(m, g.threads, g.cap), dim3(static_cast<unsigned>(g.threads)),
         &tsne_step_kernel, Y, update, gains, grad, static_cast<const int32_t*>(finite), m,
         momentum, learning_rate, min_gain);
}

// y32 = float32(Y), n x 2.
template <class Launch>
void tsne_to_float32_cuda_run(float* y32, const double* Y, int64_t n, int config, Launch&& launch) {
  const TsneStepCudaGeometry g = tsne_step_cuda_geometry(config);
  launch(tsne_step_cuda_grid(2 * n, g.threads, g.cap), dim3(static_cast<unsigned>(g.threads)),
         &tsne_to_float32_kernel, y32, Y, 2 * n);
}

template <class Launch>
void tsne_step_fail_cuda_run(int32_t* finite, double* kl, Launch&& launch) {
  launch(dim3(1), dim3(1), &tsne_step_fail_kernel, finite, kl,
         std::numeric_limits<double>::quiet_NaN());
}

}  // namespace lf::LF_KERNEL_NS
