// Device side of the CUDA fused optimizer updates and the max-norm constraint (contracts in
// ops/optim.h), plus the launch geometry, the argument checks and the dispatch shared by the
// launcher (ops/optim_cuda.cu, lf::gpu) and the emulator (emu/optim_cuda_emu.cpp, lf::emu).
// Compiled twice, so it uses only the emulated subset of emu/cuda_emu.h: sqrtf, sqrt (double),
// IEEE `/`, LF_SHARED + __syncthreads(); no atomics or warp functions.
//
//   updates: one thread per element, grid-stride loop over n; each element is the CPU kernel's
//     arithmetic, operation for operation (ops/optim_cpu.cpp), so with FMA contraction off
//     (-fmad=false under nvcc; the host compiler's default for the emulator) the results are the
//     CPU's bits. Hyperparameters that depend on the step (Adam) are computed on the host.
//   max-norm, columns: one thread per column, the rows summed in order in double (the CPU's order).
//   max-norm, rows: one block of T threads per row (grid-stride over rows); thread t sums columns
//     t, t + T, ... in double and the block adds the partials in a fixed binary tree, then every
//     thread scales its own columns. rescaled[k] (when not null) is written by one thread.
#pragma once

#include <math.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "core/check.h"
#include "core/cuda_subset.h"  // LF_KERNEL_NS, LF_SHARED
#include "ops/optim.h"

namespace lf::LF_KERNEL_NS {

struct OptimLaunch {
  dim3 grid, block;
};

// Elementwise: config 0 is 256 threads and up to 2^20 blocks; config 1 (96 threads, at most 5
// blocks) is small and not a power of two, so the emulator tests run several grid-stride rounds and
// ragged last blocks. Rows (max-norm): 256 or 32 threads per row, the grid capped at 2^20 or 3.
inline OptimLaunch optim_cuda_geometry(bool rowwise, int64_t items, int config) {
  LF_CHECK(config >= 0 && config < ::lf::kOptimCudaConfigs, "optim_cuda: config must be in [0, ",
           ::lf::kOptimCudaConfigs, "), got ", config);
  const GridShape g = items_or_rows_grid(rowwise, items, config);
  return {g.grid, g.block};
}

// ---- host-side checks: the CPU kernels' rules and messages (ops/optim_cpu.cpp) ----

inline void optim_cuda_check_common(const char* rule, int64_t n, float lr, float wd, float l1) {
  LF_CHECK(n >= 0, rule, ": negative size n=", n);
  LF_CHECK(std::isfinite(lr) && lr >= 0.0f, rule, ": lr must be finite and >= 0, got ", lr);
  LF_CHECK(std::isfinite(wd) && wd >= 0.0f, rule, ": weight_decay must be >= 0, got ", wd);
  LF_CHECK(std::isfinite(l1) && l1 >= 0.0f, rule, ": l1 must be >= 0, got ", l1);
}

inline void optim_cuda_check_unit(const char* rule, const char* name, float v) {
  LF_CHECK(v >= 0.0f && v < 1.0f, rule, ": ", name, " must be in [0, 1), got ", v);
}

inline void optim_cuda_check_eps(const char* rule, float eps) {
  LF_CHECK(std::isfinite(eps) && eps >= 0.0f, rule, ": eps must be finite and >= 0, got ", eps);
}

// The kernels' codes: the OptimRule values, plus rmsprop with momentum.
inline constexpr int kOptimRmspropMomentum = 7;

// What the kernel needs, every step-dependent quantity already rounded to float on the host.
struct OptimKernelArgs {
  float lr, mu, a, one_m_a, b2, one_m_b2, eps, wd, l1, step_size, inv_sqrt_bc2;
};

// Checks `rule`'s arguments as its CPU kernel does and returns its kernel code and arguments.
inline int optim_cuda_prepare(OptimRule rule, const float* param, const float* state0,
                              const float* state1, const float* grad, int64_t n,
                              const OptimHyper& h, OptimKernelArgs& k) {
  k = OptimKernelArgs{h.lr, 0, 0, 0, 0, 0, h.eps, h.weight_decay, h.l1, 0, 0};
  int code = static_cast<int>(rule);
  int states = 0;
  switch (rule) {
    case OptimRule::sgd: optim_cuda_check_common("sgd", n, h.lr, h.weight_decay, h.l1); break;
    case OptimRule::momentum:
    case OptimRule::nesterov: {
      const char* name = rule == OptimRule::momentum ? "momentum" : "nesterov";
      optim_cuda_check_common(name, n, h.lr, h.weight_decay, h.l1);
      optim_cuda_check_unit(name, "momentum", h.momentum);
      k.mu = h.momentum;
      states = 1;
      break;
    }
    case OptimRule::adagrad:
      optim_cuda_check_common("adagrad", n, h.lr, h.weight_decay, h.l1);
      optim_cuda_check_eps("adagrad", h.eps);
      states = 1;
      break;
    case OptimRule::rmsprop:
      optim_cuda_check_common("rmsprop", n, h.lr, h.weight_decay, h.l1);
      optim_cuda_check_unit("rmsprop", "alpha", h.alpha);
      optim_cuda_check_unit("rmsprop", "momentum", h.momentum);
      optim_cuda_check_eps("rmsprop", h.eps);
      LF_CHECK(h.momentum == 0.0f || n == 0 || state1 != nullptr,
               "rmsprop: momentum > 0 needs a momentum buffer");
      k.a = h.alpha;
      k.one_m_a = 1.0f - h.alpha;
      k.mu = h.momentum;
      if (h.momentum != 0.0f) code = kOptimRmspropMomentum;
      states = h.momentum != 0.0f ? 2 : 1;
      break;
    case OptimRule::adam: {
      optim_cuda_check_common("adam", n, h.lr, h.weight_decay, h.l1);
      optim_cuda_check_unit("adam", "beta1", h.beta1);
      optim_cuda_check_unit("adam", "beta2", h.beta2);
      optim_cuda_check_eps("adam", h.eps);
      LF_CHECK(h.step >= 1, "adam: step must be >= 1 (the count including this update), got ",
               h.step);
      // As adam_step_cpu: bias corrections in double, rounded once.
      const double bc1 = 1.0 - std::pow(static_cast<double>(h.beta1), static_cast<double>(h.step));
      const double bc2 = 1.0 - std::pow(static_cast<double>(h.beta2), static_cast<double>(h.step));
      k.step_size = static_cast<float>(static_cast<double>(h.lr) / bc1);
      k.inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(bc2));
      k.a = h.beta1;
      k.one_m_a = 1.0f - h.beta1;
      k.b2 = h.beta2;
      k.one_m_b2 = 1.0f - h.beta2;
      states = 2;
      break;
    }
    case OptimRule::adadelta:
      optim_cuda_check_common("adadelta", n, h.lr, h.weight_decay, h.l1);
      optim_cuda_check_unit("adadelta", "rho", h.rho);
      optim_cuda_check_eps("adadelta", h.eps);
      k.a = h.rho;
      k.one_m_a = 1.0f - h.rho;
      states = 2;
      break;
    default: LF_CHECK(false, "optim_cuda: unknown rule ", static_cast<int>(rule));
  }
  if (n > 0) {
    LF_CHECK(param != nullptr && grad != nullptr, "optim_cuda: null param or grad");
    LF_CHECK(states < 1 || state0 != nullptr, "optim_cuda: null state buffer");
    LF_CHECK(states < 2 || state1 != nullptr, "optim_cuda: null state buffer");
  }
  return code;
}

// ---- device ----

__device__ __forceinline__ float optim_sign(float p) {
  return static_cast<float>(p > 0.0f) - static_cast<float>(p < 0.0f);
}

// RULE: an OptimRule value or kOptimRmspropMomentum. REG: weight decay or L1 is on (otherwise
// the gradient is read as is, as on the CPU). s0 / s1: the rule's state buffers.
template <int RULE, bool REG>
__global__ void optim_step_kernel(float* __restrict__ param, float* __restrict__ s0,
                                  float* __restrict__ s1, const float* __restrict__ grad, int64_t n,
                                  OptimKernelArgs k) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float p = param[i];
    float g = grad[i];
    if (REG) g = g + k.wd * p + k.l1 * optim_sign(p);
    if (RULE == 0) {  // sgd
      param[i] = p - k.lr * g;
    } else if (RULE == 1 || RULE == 2) {  // momentum, nesterov
      const float b = k.mu * s0[i] + g;
      s0[i] = b;
      param[i] = RULE == 1 ? p - k.lr * b : p - k.lr * (g + k.mu * b);
    } else if (RULE == 3) {  // adagrad
      const float s = s0[i] + g * g;
      s0[i] = s;
      param[i] = p - k.lr * g / (sqrtf(s) + k.eps);
    } else if (RULE == 4 || RULE == kOptimRmspropMomentum) {  // rmsprop
      const float s = k.a * s0[i] + k.one_m_a * (g * g);
      s0[i] = s;
      if (RULE == 4) {
        param[i] = p - k.lr * g / (sqrtf(s) + k.eps);
      } else {
        const float b = k.mu * s1[i] + g / (sqrtf(s) + k.eps);
        s1[i] = b;
        param[i] = p - k.lr * b;
      }
    } else if (RULE == 5) {  // adam
      const float m = k.a * s0[i] + k.one_m_a * g;
      const float v = k.b2 * s1[i] + k.one_m_b2 * (g * g);
      s0[i] = m;
      s1[i] = v;
      param[i] = p - k.step_size * m / (sqrtf(v) * k.inv_sqrt_bc2 + k.eps);
    } else {  // adadelta
      const float s = k.a * s0[i] + k.one_m_a * (g * g);
      s0[i] = s;
      const float dx = sqrtf(s1[i] + k.eps) / sqrtf(s + k.eps) * g;
      s1[i] = k.a * s1[i] + k.one_m_a * (dx * dx);
      param[i] = p - k.lr * dx;
    }
  }
}

// Max-norm over the columns of a row-major rows x cols W: one thread per column.
__global__ void max_norm_columns_kernel(float* W, int32_t* rescaled, int64_t rows, int64_t cols,
                                        float max_norm) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  const double c = static_cast<double>(max_norm);
  for (int64_t j = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; j < cols; j += stride) {
    double acc = 0.0;
    for (int64_t r = 0; r < rows; ++r) {
      const double x = W[r * cols + j];
      acc += x * x;
    }
    const double norm = sqrt(acc);
    const bool scale_it = norm > c;
    if (rescaled != nullptr) rescaled[j] = scale_it ? 1 : 0;
    if (scale_it) {
      const float scale = static_cast<float>(c / norm);
      for (int64_t r = 0; r < rows; ++r) W[r * cols + j] *= scale;
    }
  }
}

// Max-norm over the rows: one block of T threads per row (T a power of two).
template <int T>
__global__ void max_norm_rows_kernel(float* W, int32_t* rescaled, int64_t rows, int64_t cols,
                                     float max_norm) {
  LF_SHARED(double, red, [T]);
  const int t = static_cast<int>(threadIdx.x);
  const double c = static_cast<double>(max_norm);
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    float* row = W + r * cols;
    double acc = 0.0;
    for (int64_t j = t; j < cols; j += T) acc += static_cast<double>(row[j]) * row[j];
    red[t] = acc;
    __syncthreads();
    for (int s = T / 2; s > 0; s >>= 1) {
      if (t < s) red[t] += red[t + s];
      __syncthreads();
    }
    const double norm = sqrt(red[0]);
    const bool scale_it = norm > c;
    if (t == 0 && rescaled != nullptr) rescaled[r] = scale_it ? 1 : 0;
    if (scale_it) {
      const float scale = static_cast<float>(c / norm);
      for (int64_t j = t; j < cols; j += T) row[j] *= scale;
    }
    __syncthreads();  // red is rewritten for the next row only after everyone read red[0]
  }
}

// Runs one step of `rule` through launch(grid, block, kernel, args...): the launcher passes a real
// <<<>>> launch, the emulator emu::launch under a schedule. Checks the arguments first; n == 0
// launches nothing (an empty grid is an invalid launch).
template <class Launch>
void optim_cuda_run(OptimRule rule, float* param, float* state0, float* state1, const float* grad,
                    int64_t n, const OptimHyper& h, int config, Launch&& launch) {
  OptimKernelArgs k;
  const int code = optim_cuda_prepare(rule, param, state0, state1, grad, n, h, k);
  const OptimLaunch g = optim_cuda_geometry(false, n, config);
  if (n == 0) return;
  const bool reg = h.weight_decay != 0.0f || h.l1 != 0.0f;
  auto go = [&](auto R) {
    constexpr int RULE = decltype(R)::value;
    if (reg) {
      launch(g.grid, g.block, &optim_step_kernel<RULE, true>, param, state0, state1, grad, n, k);
    } else {
      launch(g.grid, g.block, &optim_step_kernel<RULE, false>, param, state0, state1, grad, n, k);
    }
  };
  switch (code) {
    case 0: go(std::integral_constant<int, 0>{}); return;
    case 1: go(std::integral_constant<int, 1>{}); return;
    case 2: go(std::integral_constant<int, 2>{}); return;
    case 3: go(std::integral_constant<int, 3>{}); return;
    case 4: go(std::integral_constant<int, 4>{}); return;
    case 5: go(std::integral_constant<int, 5>{}); return;
    case 6: go(std::integral_constant<int, 6>{}); return;
    default: go(std::integral_constant<int, kOptimRmspropMomentum>{}); return;
  }
}

inline void max_norm_cuda_check(const float* W, int64_t rows, int64_t cols, float max_norm,
                                int axis, int config) {
  LF_CHECK(rows >= 0 && cols >= 0, "max_norm: negative shape (", rows, ", ", cols, ")");
  LF_CHECK(std::isfinite(max_norm) && max_norm > 0.0f,
           "max_norm: max_norm must be finite and > 0, got ", max_norm);
  LF_CHECK(axis == 0 || axis == 1, "max_norm: axis must be 0 or 1, got ", axis);
  LF_CHECK(config >= 0 && config < ::lf::kOptimCudaConfigs, "optim_cuda: config must be in [0, ",
           ::lf::kOptimCudaConfigs, "), got ", config);
  LF_CHECK(rows == 0 || cols == 0 || W != nullptr, "max_norm: W is null");
}

// Max-norm over columns (axis 0) or rows (axis 1); rescaled (cols or rows flags) may be null.
template <class Launch>
void max_norm_cuda_run(float* W, int32_t* rescaled, int64_t rows, int64_t cols, float max_norm,
                       int axis, int config, Launch&& launch) {
  max_norm_cuda_check(W, rows, cols, max_norm, axis, config);
  if (rows == 0 || cols == 0) return;
  if (axis == 0) {
    const OptimLaunch g = optim_cuda_geometry(false, cols, config);
    launch(g.grid, g.block, &max_norm_columns_kernel, W, rescaled, rows, cols, max_norm);
  } else {
    const OptimLaunch g = optim_cuda_geometry(true, rows, config);
    if (config == 0) {
      launch(g.grid, g.block, &max_norm_rows_kernel<256>, W, rescaled, rows, cols, max_norm);
    } else {
      launch(g.grid, g.block, &max_norm_rows_kernel<32>, W, rescaled, rows, cols, max_norm);
    }
  }
}

}  // namespace lf::LF_KERNEL_NS
