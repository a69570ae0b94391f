// Device side of lf::locally_connected2d_*_cuda (contract in ops/locally_connected2d.h): direct
// kernels, one thread per output element, each a fixed-order loop (no atomics, no shared
// memory), plus the launch geometry.
//
// This source is compiled twice: by nvcc (ops/locally_connected2d_cuda.cu, symbols in lf::gpu)
// and by the host compiler against emu/cuda_emu.h (emu/locally_connected2d_cuda_emu.cpp, symbols
// in lf::emu), so tests on GPU-less machines run this exact code. It uses only the subset listed
// in cuda_emu.h.
//
//   forward           one thread per y[n, co, oh, ow]: sum over (ci, i, j) in order, + bias
//   backward data     one thread per dx[n, ci, ih, iw]: sum over the taps (i, j) that reach it
//                     (oh = (ih - i) / sh when divisible and in range), then over co, in order
//   backward weights  one thread per dw[oh, ow, co, ci, i, j]: sum over n in order; and one
//                     thread per db[co, oh, ow]: sum of dy over n in order
// Accumulation is float32, in the order above, so the result does not depend on the launch.
#pragma once

#include <cstdint>

#include "core/check.h"
#include "core/cuda_subset.h"  // LF_KERNEL_NS
#include "ops/locally_connected2d.h"

namespace lf::LF_KERNEL_NS {

// The sizes every kernel takes (validated by locally_connected2d_check_args on the host).
struct Lc2dDims {
  int64_t N, C_in, H, W, C_out, kh, kw, sh, sw, OH, OW;
};

inline Lc2dDims lc2d_cuda_dims(int64_t N, int64_t C_in, int64_t H, int64_t W, int64_t C_out,
                               int64_t kh, int64_t kw, int64_t sh, int64_t sw) {
  const LocallyConnected2dGeometry g =
      locally_connected2d_check_args(N, C_in, H, W, C_out, kh, kw, sh, sw);
  return {N, C_in, H, W, C_out, kh, kw, sh, sw, g.OH, g.OW};
}

// Threads per (1-D) block; a config index selects it so tests can vary the block size.
inline constexpr int kLc2dCudaConfigs = 2;
inline int lc2d_cuda_block(int config) {
  LF_CHECK(config >= 0 && config < kLc2dCudaConfigs,
           "locally_connected2d_cuda: config must be in [0, ", kLc2dCudaConfigs, "), got ", config);
  return config == 0 ? 128 : 40;  // 40: not a power of two, so a ragged last block is the rule
}

struct Lc2dLaunch {
  dim3 grid, block;
};

// A 1-D grid covering `total` > 0 elements.
inline Lc2dLaunch lc2d_cuda_geometry(int64_t total, int config) {
  const int64_t threads = lc2d_cuda_block(config);
  const int64_t blocks = (total + threads - 1) / threads;
  LF_CHECK(blocks <= 2147483647, "locally_connected2d_cuda: ", total,
           " outputs are too many for one launch");
  return {dim3(static_cast<unsigned>(blocks)), dim3(static_cast<unsigned>(threads))};
}

__device__ __forceinline__ int64_t lc2d_thread_index() {
  return int64_t{blockIdx.x} * int64_t{blockDim.x} + int64_t{threadIdx.x};
}

__global__ void lc2d_forward_kernel(float* __restrict__ y, const float* __restrict__ x,
                                    const float* __restrict__ w, const float* __restrict__ bias,
                                    Lc2dDims d) {
  const int64_t idx = lc2d_thread_index();
  if (idx >= d.N * d.C_out * d.OH * d.OW) return;
  const int64_t ow = idx % d.OW, oh = (idx / d.OW) % d.OH, co = (idx / (d.OW * d.OH)) % d.C_out;
  const int64_t n = idx / (d.OW * d.OH * d.C_out);
  const int64_t K = d.C_in * d.kh * d.kw;
  const float* wp = w + ((oh * d.OW + ow) * d.C_out + co) * K;
  float acc = 0.0f;
  for (int64_t ci = 0; ci < d.C_in; ++ci) {
    const float* xp = x + ((n * d.C_in + ci) * d.H + oh * d.sh) * d.W + ow * d.sw;
    for (int64_t i = 0; i < d.kh; ++i) {
      for (int64_t j = 0; j < d.kw; ++j) acc += wp[(ci * d.kh + i) * d.kw + j] * xp[i * d.W + j];
    }
  }
  if (bias) acc += bias[(co * d.OH + oh) * d.OW + ow];
  y[idx] = acc;
}

__global__ void lc2d_backward_data_kernel(float* __restrict__ dx, const float* __restrict__ dy,
                                          const float* __restrict__ w, Lc2dDims d) {
  const int64_t idx = lc2d_thread_index();
  if (idx >= d.N * d.C_in * d.H * d.W) return;
  const int64_t iw = idx % d.W, ih = (idx / d.W) % d.H, ci = (idx / (d.W * d.H)) % d.C_in;
  const int64_t n = idx / (d.W * d.H * d.C_in);
  const int64_t K = d.C_in * d.kh * d.kw, P = d.OH * d.OW;
  float acc = 0.0f;
  for (int64_t i = 0; i < d.kh; ++i) {
    const int64_t th = ih - i;  // = oh * sh
    if (th < 0 || th % d.sh != 0 || th / d.sh >= d.OH) continue;
    const int64_t oh = th / d.sh;
    for (int64_t j = 0; j < d.kw; ++j) {
      const int64_t tw = iw - j;
      if (tw < 0 || tw % d.sw != 0 || tw / d.sw >= d.OW) continue;
      const int64_t p = oh * d.OW + tw / d.sw;
      const float* wp = w + p * d.C_out * K + (ci * d.kh + i) * d.kw + j;
      const float* dyp = dy + n * d.C_out * P + p;
      for (int64_t co = 0; co < d.C_out; ++co) acc += wp[co * K] * dyp[co * P];
    }
  }
  dx[idx] = acc;
}

__global__ void lc2d_backward_weights_kernel(float* __restrict__ dw, const float* __restrict__ dy,
                                             const float* __restrict__ x, Lc2dDims d) {
  const int64_t idx = lc2d_thread_index();
  const int64_t K = d.C_in * d.kh * d.kw, P = d.OH * d.OW;
  if (idx >= P * d.C_out * K) return;
  const int64_t j = idx % d.kw, i = (idx / d.kw) % d.kh, ci = (idx / (d.kw * d.kh)) % d.C_in;
  const int64_t co = (idx / K) % d.C_out, p = idx / (K * d.C_out);
  const int64_t oh = p / d.OW, ow = p % d.OW;
  const float* dyp = dy + co * P + p;
  const float* xp = x + (ci * d.H + oh * d.sh + i) * d.W + ow * d.sw + j;
  float acc = 0.0f;
  for (int64_t n = 0; n < d.N; ++n) acc += dyp[n * d.C_out * P] * xp[n * d.C_in * d.H * d.W];
  dw[idx] = acc;
}

__global__ void lc2d_bias_grad_kernel(float* __restrict__ db, const float* __restrict__ dy,
                                      Lc2dDims d) {
  const int64_t idx = lc2d_thread_index();  // = co * P + p
  const int64_t P = d.OH * d.OW;
  if (idx >= d.C_out * P) return;
  float acc = 0.0f;
  for (int64_t n = 0; n < d.N; ++n) acc += dy[n * d.C_out * P + idx];
  db[idx] = acc;
}

}  // namespace lf::LF_KERNEL_NS
