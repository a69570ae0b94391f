// Device side of the CUDA elementwise activations and row (log-)softmax (contracts in
// ops/elementwise.h), plus the launch geometry, the argument checks and the dispatch shared by the
// launcher (ops/elementwise_cuda.cu, lf::gpu) and the emulator (emu/elementwise_cuda_emu.cpp,
// lf::emu). Compiled twice, so it uses only the emulated subset of emu/cuda_emu.h: expf, tanhf,
// log (double), IEEE `/`, LF_SHARED + __syncthreads(); no atomics or warp functions.
//
//   activations: one thread per element, grid-stride loop over n. Forward uses the GEMM epilogue's
//     gemm_activate (ops/gemm_cuda.cuh), so a fused Linear(act) and a separate activation agree on
//     the device too; backward is the CPU's per-element formula.
//   softmax / log-softmax: one block of T threads per row (grid-stride over rows). Thread t visits
//     columns t, t + T, ...; the row max (NaN-propagating) and the row sum (double) are combined
//     over the block in a fixed binary tree (red[t] op= red[t + s], s = T/2 .. 1, a barrier per
//     level), so the result does not depend on how threads are scheduled. exp is expf on
//     float(x - max), as the CPU kernel rounds x - max to float before its exp.
#pragma once

#include <math.h>

#include <cstdint>
#include <type_traits>

#include "core/activation.h"
#include "core/check.h"
#include "core/cuda_subset.h"  // LF_KERNEL_NS, LF_SHARED
#include "ops/elementwise.h"
#include "ops/gemm_cuda.cuh"  // gemm_activate: the device activation formulas

namespace lf::LF_KERNEL_NS {

struct EwLaunch {
  dim3 grid, block;
};

// Elementwise ops: config 0 is 256 threads and up to 2^20 blocks; config 1 (96 threads, at most
// 5 blocks) is small and not a power of two, so the emulator tests run several grid-stride rounds
// and ragged last blocks. Row ops: one block per row, 256 or 32 threads (a power of two, for the
// tree), the grid capped at 2^20 or 3 blocks (config 1 makes blocks take several rows).
inline EwLaunch ew_cuda_geometry(bool rowwise, int64_t rows, int64_t cols, int config) {
  LF_CHECK(config >= 0 && config < ::lf::kElementwiseCudaConfigs,
           "elementwise_cuda: config must be in [0, ", ::lf::kElementwiseCudaConfigs, "), got ",
           config);
  const GridShape g = items_or_rows_grid(rowwise, rowwise ? rows : rows * cols, config);
  return {g.grid, g.block};
}

// Host-side checks shared by the launcher and the emulator.
inline void ew_cuda_check(ElementwiseCudaOp op, const float* out, const float* a, const float* b,
                          int64_t rows, int64_t cols, Activation act, int config) {
  const int o = static_cast<int>(op);
  LF_CHECK(o >= 0 && o <= 5, "elementwise_cuda: unknown op ", o);
  LF_CHECK(activation_valid(static_cast<int>(act)), "activation code must be 0..3, got ",
           static_cast<int>(act));
  LF_CHECK(rows >= 0 && cols >= 0, "elementwise_cuda: negative shape (", rows, ", ", cols, ")");
  LF_CHECK(config >= 0 && config < ::lf::kElementwiseCudaConfigs,
           "elementwise_cuda: config must be in [0, ", ::lf::kElementwiseCudaConfigs, "), got ",
           config);
  if (rows == 0 || cols == 0) return;
  const bool needs_b = op != ElementwiseCudaOp::activation_forward &&
                       op != ElementwiseCudaOp::softmax_forward &&
                       op != ElementwiseCudaOp::log_softmax_forward;
  LF_CHECK(out != nullptr && a != nullptr && (!needs_b || b != nullptr),
           "elementwise_cuda: null pointer");
}

template <int ACT>
__global__ void ew_activation_forward_kernel(float* y, const float* x, int64_t n) {
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += step) {
    y[i] = gemm_activate(x[i], ACT);
  }
}

// ACT: 1 sigmoid, 2 tanh, 3 relu, 0 none (the Activation values). dx may equal dy.
template <int ACT>
__global__ void ew_activation_backward_kernel(float* dx, const float* dy, const float* y,
                                              int64_t n) {
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += step) {
    const float g = dy[i], v = y[i];
    if (ACT == 1) {
      dx[i] = g * (v * (1.0f - v));
    } else if (ACT == 2) {
      dx[i] = g * (1.0f - v * v);
    } else if (ACT == 3) {
      dx[i] = v > 0.0f ? g : 0.0f;
    } else {
      dx[i] = g;
    }
  }
}

// The larger of a and b, NaN if either is NaN (the CPU kernel's row rule).
__device__ __forceinline__ float ew_max_nan(float a, float b) {
  if (a != a) return a;
  return (b > a || b != b) ? b : a;
}

// red[0] = the tree combination of red[0:T] (every thread calls it after writing red[t]); ends
// with a barrier, so red[0] is then visible to the whole block.
template <int T, class V, class Op>
__device__ __forceinline__ void ew_block_reduce(V (&red)[T], int t, Op op) {
  __syncthreads();
  for (int s = T / 2; s > 0; s >>= 1) {
    if (t < s) red[t] = op(red[t], red[t + s]);
    __syncthreads();
  }
}

struct EwMaxNan {
  __device__ float operator()(float a, float b) const { return ew_max_nan(a, b); }
};
struct EwSum {
  __device__ double operator()(double a, double b) const { return a + b; }
};

// LOG = false: y = exp(x - max) / sum;  LOG = true: y = (x - max) - float(log(sum)). y may be x.
template <int T, bool LOG>
__global__ void ew_softmax_forward_kernel(float* y, const float* x, int64_t rows, int64_t cols) {
  LF_SHARED(float, red_max, [T]);
  LF_SHARED(double, red_sum, [T]);
  const int t = static_cast<int>(threadIdx.x);
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float m = -INFINITY;
    for (int64_t j = t; j < cols; j += T) m = ew_max_nan(m, xr[j]);
    red_max[t] = m;
    ew_block_reduce<T>(red_max, t, EwMaxNan{});
    const float mx = red_max[0];
    double s = 0.0;
    for (int64_t j = t; j < cols; j += T) {
      const float e = expf(xr[j] - mx);
      if (!LOG) yr[j] = e;  // each element is read and written by the same thread
      s += e;
    }
    red_sum[t] = s;
    ew_block_reduce<T>(red_sum, t, EwSum{});
    if (LOG) {
      const float lse = static_cast<float>(log(red_sum[0]));
      for (int64_t j = t; j < cols; j += T) yr[j] = (xr[j] - mx) - lse;
    } else {
      const float inv = static_cast<float>(1.0 / red_sum[0]);
      for (int64_t j = t; j < cols; j += T) yr[j] *= inv;
    }
    __syncthreads();  // red_* are rewritten for the next row only after everyone read them
  }
}

// LOG = false: dx = y * (dy - float(sum(dy * y)));  LOG = true: dx = dy - exp(y) * float(sum(dy)).
// dx may equal dy: every thread reads its own elements of dy before writing them.
template <int T, bool LOG>
__global__ void ew_softmax_backward_kernel(float* dx, const float* dy, const float* y, int64_t rows,
                                           int64_t cols) {
  LF_SHARED(double, red_sum, [T]);
  const int t = static_cast<int>(threadIdx.x);
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* dyr = dy + r * cols;
    const float* yr = y + r * cols;
    float* dxr = dx + r * cols;
    double s = 0.0;
    for (int64_t j = t; j < cols; j += T) {
      s += LOG ? static_cast<double>(dyr[j]) : static_cast<double>(dyr[j]) * yr[j];
    }
    red_sum[t] = s;
    ew_block_reduce<T>(red_sum, t, EwSum{});
    const float sf = static_cast<float>(red_sum[0]);
    for (int64_t j = t; j < cols; j += T) {
      dxr[j] = LOG ? dyr[j] - expf(yr[j]) * sf : yr[j] * (dyr[j] - sf);
    }
    __syncthreads();
  }
}

// Runs `op` through launch(grid, block, kernel, args...): the launcher passes a real <<<>>>
// launch, the emulator emu::launch under a schedule. Checks the arguments first; an empty problem
// launches nothing (an empty grid is an invalid launch).
template <class Launch>
void elementwise_cuda_run(ElementwiseCudaOp op, float* out, const float* a, const float* b,
                          int64_t rows, int64_t cols, Activation act, int config, Launch&& launch) {
  ew_cuda_check(op, out, a, b, rows, cols, act, config);
  if (rows == 0 || cols == 0) return;
  const int64_t n = rows * cols;
  const bool rowwise =
      op != ElementwiseCudaOp::activation_forward && op != ElementwiseCudaOp::activation_backward;
  const EwLaunch g = ew_cuda_geometry(rowwise, rows, cols, config);
  auto with_act = [&](auto f) {
    switch (act) {
      case Activation::sigmoid: f(std::integral_constant<int, 1>{}); return;
      case Activation::tanh: f(std::integral_constant<int, 2>{}); return;
      case Activation::relu: f(std::integral_constant<int, 3>{}); return;
      default: f(std::integral_constant<int, 0>{}); return;
    }
  };
  auto with_threads = [&](auto f) {
    if (config == 0) {
      f(std::integral_constant<int, 256>{});
    } else {
      f(std::integral_constant<int, 32>{});
    }
  };
  switch (op) {
    case ElementwiseCudaOp::activation_forward:
      with_act([&](auto A) {
        launch(g.grid, g.block, &ew_activation_forward_kernel<decltype(A)::value>, out, a, n);
      });
      return;
    case ElementwiseCudaOp::activation_backward:
      with_act([&](auto A) {
        launch(g.grid, g.block, &ew_activation_backward_kernel<decltype(A)::value>, out, a, b, n);
      });
      return;
    case ElementwiseCudaOp::softmax_forward:
      with_threads([&](auto T) {
        launch(g.grid, g.block, &ew_softmax_forward_kernel<decltype(T)::value, false>, out, a, rows,
               cols);
      });
      return;
    case ElementwiseCudaOp::log_softmax_forward:
      with_threads([&](auto T) {
        launch(g.grid, g.block, &ew_softmax_forward_kernel<decltype(T)::value, true>, out, a, rows,
               cols);
      });
      return;
    case ElementwiseCudaOp::softmax_backward:
      with_threads([&](auto T) {
        launch(g.grid, g.block, &ew_softmax_backward_kernel<decltype(T)::value, false>, out, a, b,
               rows, cols);
      });
      return;
    case ElementwiseCudaOp::log_softmax_backward:
      with_threads([&](auto T) {
        launch(g.grid, g.block, &ew_softmax_backward_kernel<decltype(T)::value, true>, out, a, b,
               rows, cols);
      });
      return;
  }
}

}  // namespace lf::LF_KERNEL_NS
