// Device side of the CUDA batch normalisation (contracts in ops/batch_norm.h), plus the launch
// geometry and the host-side argument checks shared by the launcher and the emulator.
//
// This source is compiled twice: by nvcc (ops/batch_norm_cuda.cu, symbols in lf::gpu) and by the
// host compiler against emu/cuda_emu.h (emu/batch_norm_cuda_emu.cpp, symbols in lf::emu), so it
// uses only the subset listed in cuda_emu.h.
//
// Algorithm: one block of T threads per channel (blockIdx.x = c). Thread t visits the channel's
// elements e = t, t + T, ... (element e is row e / HW, column e % HW of the channel) and
// accumulates its partial sums in double; the block then adds the T partials through shared
// memory in a fixed binary tree (t += t + s for s = T/2, ..., 1, a __syncthreads() per level), so
// the result does not depend on how the threads are scheduled. Thread 0 turns the sums into the
// channel's statistics and the coefficients of the elementwise pass, which it hands to the block
// through shared memory. No atomics.
//   training forward: pass 1 sum(x) -> m0 = float(mean); pass 2 sum(d), sum(d^2) with
//     d = x - m0; mean = m0 + sum(d) / n, var = sum(d^2) / n - (sum(d) / n)^2; pass 3 writes y.
//   backward: pass 1 sum(dy), sum(dy * d), sum(d) with d = x - mean (training: sum(d) / n is the
//     saved mean's rounding residual); pass 2 writes dx = a * dy + b * d + k.
//   evaluation forward: one elementwise pass.
// The column index e % HW makes (N, C) inputs (HW = 1) read with stride C: right for NCHW feature
// maps, slow but correct for wide 2-D inputs.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "core/check.h"
#include "core/cuda_subset.h"  // LF_KERNEL_NS, LF_SHARED
#include "ops/batch_norm.h"

namespace lf::LF_KERNEL_NS {

inline constexpr int kBatchNormCudaNumConfigs = ::lf::kBatchNormCudaConfigs;

// Calls f(std::integral_constant<int, T>{}) with the block size T of launch configuration
// `config` (0: 256 threads, 1: 64 threads).
template <class F>
void batch_norm_cuda_dispatch(int config, F&& f) {
  switch (config) {
    case 0: f(std::integral_constant<int, 256>{}); return;
    case 1: f(std::integral_constant<int, 64>{}); return;
    default:
      LF_CHECK(false, "batch_norm_cuda: config must be in [0, ", kBatchNormCudaNumConfigs,
               "), got ", config);
  }
}

// Host-side checks shared by the launcher and the emulator (ops/batch_norm.h rules).
inline void batch_norm_cuda_check(int64_t N, int64_t C, int64_t HW, bool training, int config) {
  LF_CHECK(N >= 0 && C >= 0 && HW >= 0, "batch_norm_cuda: negative shape (N=", N, ", C=", C,
           ", HW=", HW, ")");
  LF_CHECK(config >= 0 && config < kBatchNormCudaNumConfigs,
           "batch_norm_cuda: config must be in [0, ", kBatchNormCudaNumConfigs, "), got ", config);
  LF_CHECK(!training || C == 0 || N * HW >= 2,
           "batch_norm_cuda: expected more than 1 value per channel when training, got N=", N,
           " x HW=", HW);
  LF_CHECK(C <= 2147483647, "batch_norm_cuda: C=", C, " is too large for one launch");
}

inline void batch_norm_cuda_check_scalars(double momentum, double eps) {
  LF_CHECK(std::isfinite(eps) && eps > 0.0,
           "batch_norm_cuda: eps must be a finite number > 0, got ", eps);
  LF_CHECK(momentum >= 0.0 && momentum <= 1.0, "batch_norm_cuda: momentum must be in [0, 1], got ",
           momentum);
}

// red[k][0] = sum over t of red[k][t], k < K, in a fixed tree; every thread of the block calls it
// after writing its red[k][t]. Ends with a barrier, so red[k][0] is then visible to all.
template <int T, int K>
__device__ __forceinline__ void batch_norm_block_sum(double (&red)[K][T], int t) {
  __syncthreads();
  for (int s = T / 2; s > 0; s >>= 1) {
    if (t < s) {
      for (int k = 0; k < K; ++k) red[k][t] += red[k][t + s];
    }
    __syncthreads();
  }
}

__device__ __forceinline__ int64_t batch_norm_index(int64_t e, int64_t c, int64_t C, int64_t HW) {
  const int64_t i = e / HW;
  return (i * C + c) * HW + (e - i * HW);
}

template <int T>
__global__ void batch_norm_forward_train_kernel(
    float* __restrict__ y, float* __restrict__ mean, float* __restrict__ invstd,
    float* __restrict__ running_mean, float* __restrict__ running_var, const float* __restrict__ x,
    const float* __restrict__ gamma, const float* __restrict__ beta, int64_t N, int64_t C,
    int64_t HW, double momentum, double eps) {
  LF_SHARED(double, red, [2][T]);
  LF_SHARED(float, coef, [4]);
  const int t = static_cast<int>(threadIdx.x);
  const int64_t c = blockIdx.x, cnt = N * HW;
  const double n = static_cast<double>(cnt);

  double s = 0.0;
  for (int64_t e = t; e < cnt; e += T) s += x[batch_norm_index(e, c, C, HW)];
  red[0][t] = s;
  red[1][t] = 0.0;
  batch_norm_block_sum<T, 2>(red, t);
  const float m0 = static_cast<float>(red[0][0] / n);
  __syncthreads();  // everyone has read red[0][0] before it is overwritten

  double d1 = 0.0, d2 = 0.0;
  for (int64_t e = t; e < cnt; e += T) {
    const float d = x[batch_norm_index(e, c, C, HW)] - m0;
    d1 += d;
    d2 += static_cast<double>(d) * d;
  }
  red[0][t] = d1;
  red[1][t] = d2;
  batch_norm_block_sum<T, 2>(red, t);
  if (t == 0) {
    const double r = red[0][0] / n;
    double var = red[1][0] / n - r * r;
    if (var < 0.0) var = 0.0;
    const double mu = static_cast<double>(m0) + r;
    const double is = 1.0 / sqrt(var + eps);
    mean[c] = static_cast<float>(mu);
    invstd[c] = static_cast<float>(is);
    if (running_mean) {
      running_mean[c] = static_cast<float>((1.0 - momentum) * running_mean[c] + momentum * mu);
    }
    if (running_var) {
      running_var[c] =
          static_cast<float>((1.0 - momentum) * running_var[c] + momentum * var * n / (n - 1.0));
    }
    const float hi = static_cast<float>(mu);
    coef[0] = hi;
    coef[1] = static_cast<float>(mu - static_cast<double>(hi));
    coef[2] = static_cast<float>(is * (gamma ? static_cast<double>(gamma[c]) : 1.0));
    coef[3] = beta ? beta[c] : 0.0f;
  }
  __syncthreads();
  const float hi = coef[0], lo = coef[1], scale = coef[2], b = coef[3];
  for (int64_t e = t; e < cnt; e += T) {
    const int64_t k = batch_norm_index(e, c, C, HW);
    y[k] = ((x[k] - hi) - lo) * scale + b;
  }
}

template <int T>
__global__ void batch_norm_backward_kernel(float* __restrict__ dx, float* __restrict__ dgamma,
                                           float* __restrict__ dbeta, const float* __restrict__ dy,
                                           const float* __restrict__ x,
                                           const float* __restrict__ mean,
                                           const float* __restrict__ invstd,
                                           const float* __restrict__ gamma, int64_t N, int64_t C,
                                           int64_t HW, bool training) {
  LF_SHARED(double, red, [3][T]);
  LF_SHARED(float, coef, [3]);
  const int t = static_cast<int>(threadIdx.x);
  const int64_t c = blockIdx.x, cnt = N * HW;
  const double n = static_cast<double>(cnt);
  const float m = mean[c];

  double sa = 0.0, sb = 0.0, sr = 0.0;
  for (int64_t e = t; e < cnt; e += T) {
    const int64_t k = batch_norm_index(e, c, C, HW);
    const float g = dy[k], d = x[k] - m;
    sa += g;
    sb += static_cast<double>(g) * d;
    sr += d;
  }
  red[0][t] = sa;
  red[1][t] = sb;
  red[2][t] = sr;
  batch_norm_block_sum<T, 3>(red, t);
  if (t == 0) {
    const double is = invstd[c], gm = gamma ? static_cast<double>(gamma[c]) : 1.0;
    const double A = red[0][0], r = training ? red[2][0] / n : 0.0;
    const double sxh = is * (red[1][0] - r * A);
    if (dgamma) dgamma[c] = static_cast<float>(sxh);
    if (dbeta) dbeta[c] = static_cast<float>(A);
    const double a = gm * is, b = training ? -a * is * sxh / n : 0.0;
    coef[0] = static_cast<float>(a);
    coef[1] = static_cast<float>(b);
    coef[2] = training ? static_cast<float>(-a * A / n - b * r) : 0.0f;
  }
  __syncthreads();
  const float a = coef[0], b = coef[1], k0 = coef[2];
  for (int64_t e = t; e < cnt; e += T) {
    const int64_t k = batch_norm_index(e, c, C, HW);
    dx[k] = training ? a * dy[k] + b * (x[k] - m) + k0 : a * dy[k];
  }
}

template <int T>
__global__ void batch_norm_forward_eval_kernel(float* __restrict__ y, const float* __restrict__ x,
                                               const float* __restrict__ gamma,
                                               const float* __restrict__ beta,
                                               const float* __restrict__ mean,
                                               const float* __restrict__ var, int64_t N, int64_t C,
                                               int64_t HW, double eps) {
  const int t = static_cast<int>(threadIdx.x);
  const int64_t c = blockIdx.x, cnt = N * HW;
  // Every thread computes the same coefficients (no shared memory needed).
  const double is = 1.0 / sqrt(static_cast<double>(var[c]) + eps);
  const float scale = static_cast<float>(is * (gamma ? static_cast<double>(gamma[c]) : 1.0));
  const float m = mean[c], b = beta ? beta[c] : 0.0f;
  for (int64_t e = t; e < cnt; e += T) {
    const int64_t k = batch_norm_index(e, c, C, HW);
    y[k] = (x[k] - m) * scale + b;
  }
}

}  // namespace lf::LF_KERNEL_NS
