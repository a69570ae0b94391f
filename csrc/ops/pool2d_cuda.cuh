// Device side of lf::pool2d_forward_cuda / pool2d_backward_cuda (contract in ops/pool2d.h):
// max, avg and L2 pooling over NCHW float32, plus the launch geometry.
//
// Compiled twice, like every kernel source: by nvcc (ops/pool2d_cuda.cu, lf::gpu) and by the
// host compiler against emu/cuda_emu.h (emu/pool2d_cuda_emu.cpp, lf::emu). It uses only the
// emulated subset (no shared memory, atomics or warp functions are needed), sqrtf and IEEE `/`.
//
//   forward: one thread per output (grid-stride loop over N*C*OH*OW). The window is visited in
//     row-major order with the CPU kernel's arithmetic (the sum starts from the window's first
//     element; the max takes an element that is greater than the best so far or is the first
//     NaN), so the outputs and argmax equal the CPU's bit for bit.
//   backward: one thread per INPUT element (grid-stride over N*C*H*W). It gathers the
//     contributions of the outputs whose windows cover it, in row-major output order, into a
//     register starting from +0, and writes dx once: no atomics, a fixed order, and the CPU's
//     scatter order (so max and avg match the CPU bitwise; l2 may differ by the FMA nvcc
//     contracts `acc + g * t` into).
#pragma once

#include <cstdint>
#include <type_traits>

#include "core/check.h"
#include "core/cuda_subset.h"  // LF_KERNEL_NS
#include "ops/pool2d.h"

namespace lf::LF_KERNEL_NS {

// Launch configuration: threads per block and the most blocks launched (the grid-stride loops
// cover the rest). Config 1 (96 threads, 5 blocks) is deliberately small and not a power of two,
// so the emulator tests run several grid-stride rounds and ragged last blocks.
struct PoolLaunch {
  dim3 grid, block;
};

inline PoolLaunch pool2d_cuda_geometry(int64_t total, int config) {
  LF_CHECK(config >= 0 && config < ::lf::kPool2dCudaConfigs, "pool2d_cuda: config must be in [0, ",
           ::lf::kPool2dCudaConfigs, "), got ", config);
  const int64_t threads = config == 0 ? 256 : 96;
  const int64_t max_blocks = config == 0 ? int64_t{1} << 20 : 5;
  int64_t blocks = (total + threads - 1) / threads;
  if (blocks > max_blocks) blocks = max_blocks;
  if (blocks < 1) blocks = 1;
  return {dim3(static_cast<unsigned>(blocks)), dim3(static_cast<unsigned>(threads))};
}

// Host-side checks shared by the launcher and the emulator.
inline void pool2d_cuda_check_args(const void* out, const void* in, const int32_t* argmax,
                                   const float* x, const float* y, const Pool2dShape& s,
                                   PoolMode mode, int config, bool backward) {
  const int m = static_cast<int>(mode);
  LF_CHECK(m >= 0 && m <= 2, "pool2d_cuda: unknown pooling mode ", m);
  LF_CHECK(config >= 0 && config < ::lf::kPool2dCudaConfigs, "pool2d_cuda: config must be in [0, ",
           ::lf::kPool2dCudaConfigs, "), got ", config);
  if (s.n * s.c == 0) return;
  LF_CHECK(out != nullptr && in != nullptr, "pool2d_cuda: null pointer");
  LF_CHECK(mode != PoolMode::max || argmax != nullptr, "pool2d_cuda: max pooling needs argmax");
  if (backward && mode == PoolMode::l2) {
    LF_CHECK(x != nullptr && y != nullptr, "pool2d_cuda: l2 pooling needs x and y");
  }
}

__device__ __forceinline__ int64_t pool_max64(int64_t a, int64_t b) { return a > b ? a : b; }
__device__ __forceinline__ int64_t pool_min64(int64_t a, int64_t b) { return a < b ? a : b; }

// MODE: 0 max, 1 avg, 2 l2 (PoolMode's values). argmax is written in max mode only.
template <int MODE>
__global__ void pool2d_forward_kernel(float* __restrict__ y, int32_t* __restrict__ argmax,
                                      const float* __restrict__ x, Pool2dShape s) {
  const int64_t total = s.n * s.c * s.oh * s.ow;
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t o = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; o < total; o += step) {
    const int64_t ow = o % s.ow, t = o / s.ow;
    const int64_t oh = t % s.oh, p = t / s.oh;
    const float* xp = x + p * s.h * s.w;
    const int64_t hs = oh * s.sh - s.ph, ws = ow * s.sw - s.pw;
    const int64_t h0 = pool_max64(hs, 0), h1 = pool_min64(hs + s.kh, s.h);
    const int64_t w0 = pool_max64(ws, 0), w1 = pool_min64(ws + s.kw, s.w);
    int64_t best_i = h0 * s.w + w0;
    float acc = xp[best_i];
    if (MODE == 2) acc *= acc;
    bool first = true;
    for (int64_t h = h0; h < h1; ++h) {
      for (int64_t w = w0; w < w1; ++w) {
        if (first) {
          first = false;
          continue;
        }
        const int64_t i = h * s.w + w;
        const float v = xp[i];
        if (MODE == 0) {
          if (v > acc || (v != v && acc == acc)) {
            acc = v;
            best_i = i;
          }
        } else if (MODE == 1) {
          acc += v;
        } else {
          acc += v * v;
        }
      }
    }
    if (MODE == 0) {
      y[o] = acc;
      argmax[o] = static_cast<int32_t>(best_i);
    } else if (MODE == 1) {
      y[o] = acc / static_cast<float>(s.kh * s.kw);
    } else {
      y[o] = sqrtf(acc);
    }
  }
}

template <int MODE>
__global__ void pool2d_backward_kernel(float* __restrict__ dx, const float* __restrict__ dy,
                                       const int32_t* __restrict__ argmax,
                                       const float* __restrict__ x, const float* __restrict__ y,
                                       Pool2dShape s) {
  const int64_t total = s.n * s.c * s.h * s.w;
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  const float count = static_cast<float>(s.kh * s.kw);
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < total; i += step) {
    const int64_t w = i % s.w, t = i / s.w;
    const int64_t h = t % s.h, p = t / s.h;
    const int64_t flat = h * s.w + w;  // the index within the plane, as argmax stores it
    // Output oh covers input row h when oh*sh - ph <= h < oh*sh - ph + kh.
    const int64_t nh = h + s.ph - s.kh + 1, nw = w + s.pw - s.kw + 1;
    const int64_t oh0 = nh <= 0 ? 0 : (nh + s.sh - 1) / s.sh;
    const int64_t ow0 = nw <= 0 ? 0 : (nw + s.sw - 1) / s.sw;
    const int64_t oh1 = pool_min64((h + s.ph) / s.sh, s.oh - 1);
    const int64_t ow1 = pool_min64((w + s.pw) / s.sw, s.ow - 1);
    const int64_t out_plane = p * s.oh * s.ow;
    const float xv = MODE == 2 ? x[i] : 0.0f;
    float acc = 0.0f;
    for (int64_t oh = oh0; oh <= oh1; ++oh) {
      for (int64_t ow = ow0; ow <= ow1; ++ow) {
        const int64_t o = out_plane + oh * s.ow + ow;
        if (MODE == 0) {
          if (argmax[o] == flat) acc += dy[o];
        } else if (MODE == 1) {
          acc += dy[o] / count;
        } else {
          const float yo = y[o];
          const float r = yo != 0.0f ? 1.0f / yo : 0.0f;
          acc += dy[o] * (xv * r);
        }
      }
    }
    dx[i] = acc;
  }
}

// Calls f(std::integral_constant<int, MODE>{}) for the mode: launcher and emulator dispatch alike.
template <class F>
void pool2d_cuda_dispatch(PoolMode mode, F&& f) {
  switch (mode) {
    case PoolMode::max: f(std::integral_constant<int, 0>{}); return;
    case PoolMode::avg: f(std::integral_constant<int, 1>{}); return;
    case PoolMode::l2: f(std::integral_constant<int, 2>{}); return;
  }
  LF_CHECK(false, "pool2d_cuda: unknown pooling mode ", static_cast<int>(mode));
}

}  // namespace lf::LF_KERNEL_NS
