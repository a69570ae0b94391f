// Device side of lf::conv2d_*_cuda (contract in ops/conv2d.h): direct kernels, one thread per
// output element, each a fixed-order loop (no atomics, no shared memory), plus the launch
// geometry.
//
// This source is compiled twice: by nvcc (ops/conv2d_cuda.cu, symbols in lf::gpu) and by the host
// compiler against emu/cuda_emu.h (emu/conv2d_cuda_emu.cpp, symbols in lf::emu), so tests on
// GPU-less machines run this exact code. It uses only the subset listed in cuda_emu.h.
//
//   forward           one thread per y[n, co, oh, ow]: bias + sum over (ci, i, j) in order
//   backward data     one thread per dx[n, ci, ih, iw]: sum over (co, i, j) of the taps that
//                     reach it (oh = (ih + ph - i) / sh when divisible and in range)
//   backward weights  one thread per dw[co, ci, i, j]: sum over (n, oh, ow) in order; and one
//                     thread per db[co]: sum of dy over (n, oh, ow) in order
// Accumulation is float32, in the order above, so the result does not depend on the launch.
#pragma once

#include <cstdint>

#include "core/check.h"
#include "core/cuda_subset.h"  // LF_KERNEL_NS
#include "ops/conv2d.h"

namespace lf::LF_KERNEL_NS {

// The sizes every kernel takes (validated by conv2d_check_args on the host).
struct Conv2dDims {
  int64_t N, C_in, H, W, C_out, kh, kw, sh, sw, ph, pw, OH, OW;
};

inline Conv2dDims conv2d_cuda_dims(int64_t N, int64_t C_in, int64_t H, int64_t W, int64_t C_out,
                                   int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
                                   int64_t pw) {
  const Conv2dGeometry g = conv2d_check_args(N, C_in, H, W, C_out, kh, kw, sh, sw, ph, pw);
  return {N, C_in, H, W, C_out, kh, kw, sh, sw, ph, pw, g.OH, g.OW};
}

// Threads per (1-D) block; a config index selects it so tests can vary the block size.
inline constexpr int kConv2dCudaConfigs = 2;
inline int conv2d_cuda_block(int config) {
  LF_CHECK(config >= 0 && config < kConv2dCudaConfigs, "conv2d_cuda: config must be in [0, ",
           kConv2dCudaConfigs, "), got ", config);
  return config == 0 ? 128 : 48;  // 48: not a power of two, so a ragged last block is the rule
}

struct Conv2dLaunch {
  dim3 grid, block;
};

// A 1-D grid covering `total` > 0 elements.
inline Conv2dLaunch conv2d_cuda_geometry(int64_t total, int config) {
  const int64_t threads = conv2d_cuda_block(config);
  const int64_t blocks = (total + threads - 1) / threads;
  LF_CHECK(blocks <= 2147483647, "conv2d_cuda: ", total, " outputs are too many for one launch");
  return {dim3(static_cast<unsigned>(blocks)), dim3(static_cast<unsigned>(threads))};
}

__device__ __forceinline__ int64_t conv2d_thread_index() {
  return int64_t{blockIdx.x} * int64_t{blockDim.x} + int64_t{threadIdx.x};
}

__global__ void conv2d_forward_kernel(float* __restrict__ y, const float* __restrict__ x,
                                      const float* __restrict__ w, const float* __restrict__ bias,
                                      Conv2dDims d) {
  const int64_t idx = conv2d_thread_index();
  if (idx >= d.N * d.C_out * d.OH * d.OW) return;
  const int64_t ow = idx % d.OW, oh = (idx / d.OW) % d.OH, co = (idx / (d.OW * d.OH)) % d.C_out;
  const int64_t n = idx / (d.OW * d.OH * d.C_out);
  float acc = 0.0f;
  for (int64_t ci = 0; ci < d.C_in; ++ci) {
    const float* xp = x + (n * d.C_in + ci) * d.H * d.W;
    const float* wp = w + (co * d.C_in + ci) * d.kh * d.kw;
    for (int64_t i = 0; i < d.kh; ++i) {
      const int64_t ih = oh * d.sh - d.ph + i;
      if (ih < 0 || ih >= d.H) continue;
      for (int64_t j = 0; j < d.kw; ++j) {
        const int64_t iw = ow * d.sw - d.pw + j;
        if (iw < 0 || iw >= d.W) continue;
        acc += wp[i * d.kw + j] * xp[ih * d.W + iw];
      }
    }
  }
  if (bias) acc += bias[co];
  y[idx] = acc;
}

__global__ void conv2d_backward_data_kernel(float* __restrict__ dx, const float* __restrict__ dy,
                                            const float* __restrict__ w, Conv2dDims d) {
  const int64_t idx = conv2d_thread_index();
  if (idx >= d.N * d.C_in * d.H * d.W) return;
  const int64_t iw = idx % d.W, ih = (idx / d.W) % d.H, ci = (idx / (d.W * d.H)) % d.C_in;
  const int64_t n = idx / (d.W * d.H * d.C_in);
  float acc = 0.0f;
  for (int64_t co = 0; co < d.C_out; ++co) {
    const float* dyp = dy + (n * d.C_out + co) * d.OH * d.OW;
    const float* wp = w + (co * d.C_in + ci) * d.kh * d.kw;
    for (int64_t i = 0; i < d.kh; ++i) {
      const int64_t th = ih + d.ph - i;  // = oh * sh
      if (th < 0 || th % d.sh != 0 || th / d.sh >= d.OH) continue;
      const int64_t oh = th / d.sh;
      for (int64_t j = 0; j < d.kw; ++j) {
        const int64_t tw = iw + d.pw - j;
        if (tw < 0 || tw % d.sw != 0 || tw / d.sw >= d.OW) continue;
        acc += wp[i * d.kw + j] * dyp[oh * d.OW + tw / d.sw];
      }
    }
  }
  dx[idx] = acc;
}

__global__ void conv2d_backward_weights_kernel(float* __restrict__ dw, const float* __restrict__ dy,
                                               const float* __restrict__ x, Conv2dDims d) {
  const int64_t idx = conv2d_thread_index();
  if (idx >= d.C_out * d.C_in * d.kh * d.kw) return;
  const int64_t j = idx % d.kw, i = (idx / d.kw) % d.kh, ci = (idx / (d.kw * d.kh)) % d.C_in;
  const int64_t co = idx / (d.kw * d.kh * d.C_in);
  float acc = 0.0f;
  for (int64_t n = 0; n < d.N; ++n) {
    const float* dyp = dy + (n * d.C_out + co) * d.OH * d.OW;
    const float* xp = x + (n * d.C_in + ci) * d.H * d.W;
    for (int64_t oh = 0; oh < d.OH; ++oh) {
      const int64_t ih = oh * d.sh - d.ph + i;
      if (ih < 0 || ih >= d.H) continue;
      for (int64_t ow = 0; ow < d.OW; ++ow) {
        const int64_t iw = ow * d.sw - d.pw + j;
        if (iw < 0 || iw >= d.W) continue;
        acc += dyp[oh * d.OW + ow] * xp[ih * d.W + iw];
      }
    }
  }
  dw[idx] = acc;
}

__global__ void conv2d_bias_grad_kernel(float* __restrict__ db, const float* __restrict__ dy,
                                        Conv2dDims d) {
  const int64_t co = conv2d_thread_index();
  if (co >= d.C_out) return;
  float acc = 0.0f;
  const int64_t P = d.OH * d.OW;
  for (int64_t n = 0; n < d.N; ++n) {
    const float* dyp = dy + (n * d.C_out + co) * P;
    for (int64_t p = 0; p < P; ++p) acc += dyp[p];
  }
  db[co] = acc;
}

}  // namespace lf::LF_KERNEL_NS
