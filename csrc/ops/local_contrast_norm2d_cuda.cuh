// Device side of lf::local_contrast_norm2d_forward_cuda / _backward_cuda (contract in
// ops/local_contrast_norm2d.h), plus the launch geometry and the host-side checks shared by the
// launcher and the emulator.
//
// Compiled twice, like every kernel source: by nvcc (ops/local_contrast_norm2d_cuda.cu, lf::gpu)
// and by the host compiler against emu/cuda_emu.h (emu/local_contrast_norm2d_cuda_emu.cpp,
// lf::emu), so it uses only the emulated subset: sqrtf, IEEE `/`, LF_SHARED + __syncthreads().
//
// Every per-position kernel is a grid-stride loop over the N*H*W positions (one thread per
// (n, x, y)) and does the CPU kernel's float32 operations in the same order: the window sums are a
// horizontal pass (lcn_hblur_kernel, into a scratch plane) then a vertical pass fused into the
// kernel that consumes it. c and gc are block reductions, one block per sample (grid-stride over
// samples): each thread sums its positions t, t + T, ... in double, then a fixed tree through
// shared memory. No atomics.
//   forward:  P = sum_j (x_j - s)        -> sigma_map (scratch)     [s = x[n, 0, 0, 0]]
//             T = hblur(P)               -> y[0 : NHW] (scratch)
//             m = s + vblur(T) / zc, Q = sum_j (x_j - m)^2 -> mean, sigma_map
//             T = hblur(Q); sigma = sqrt(vblur(T) / zc) -> sigma_map
//             c = mean(sigma) (block per sample); y = (x - m) / d (one thread per element)
//   backward: gc (block per sample, recomputing gd); A = gs2 / zc; B = hblur(A);
//             dx_j = gv_j = dy_j / d + 2 v_j vblur(B), A = -sum_j gv_j / zc; B = hblur(A);
//             dx_j += vblur(B). A, B, gc / HW live in `work`.
#pragma once

#include <cstdint>
#include <type_traits>

#include "core/check.h"
#include "core/cuda_subset.h"  // LF_KERNEL_NS, LF_SHARED
#include "ops/local_contrast_norm2d.h"

namespace lf::LF_KERNEL_NS {

// The kernel arguments: the shape, the taps (offset p at taps[p + rr]) and eps in float32.
struct LcnArgs {
  int64_t N, C, H, W;
  int64_t rr;
  float eps;
  float taps[2 * ::lf::kLcnCudaMaxRadius + 1];
};

inline LcnArgs lcn_cuda_args(int64_t N, int64_t C, int64_t H, int64_t W, int64_t size, double sigma,
                             double eps, int config) {
  ::lf::lcn_check_args(N, C, H, W, size, sigma, eps);
  LF_CHECK(config >= 0 && config < ::lf::kLcnCudaConfigs,
           "local_contrast_norm2d_cuda: config must be in [0, ", ::lf::kLcnCudaConfigs, "), got ",
           config);
  LcnArgs a{};
  a.N = N;
  a.C = C;
  a.H = H;
  a.W = W;
  a.rr = ::lf::lcn_radius(size, H, W);
  LF_CHECK(a.rr <= ::lf::kLcnCudaMaxRadius, "local_contrast_norm2d_cuda: the window radius ", a.rr,
           " (min(size // 2, max(H, W) - 1)) is above the device limit ", ::lf::kLcnCudaMaxRadius);
  a.eps = static_cast<float>(eps);
  const auto taps = ::lf::lcn_taps(size, sigma, H, W);
  for (size_t i = 0; i < taps.size(); ++i) a.taps[i] = taps[i];
  return a;
}

struct LcnLaunch {
  dim3 grid, block;
};

// Per-position / per-element kernels: config 0 256 threads and up to 2^20 blocks; config 1 96
// threads and at most 5 blocks (several grid-stride rounds and ragged blocks in the tests).
inline LcnLaunch lcn_cuda_geometry(int64_t total, int config) {
  const int64_t threads = config == 0 ? 256 : 96;
  const int64_t max_blocks = config == 0 ? int64_t{1} << 20 : 5;
  int64_t blocks = (total + threads - 1) / threads;
  if (blocks > max_blocks) blocks = max_blocks;
  if (blocks < 1) blocks = 1;
  return {dim3(static_cast<unsigned>(blocks)), dim3(static_cast<unsigned>(threads))};
}

// Calls f(std::integral_constant<int, T>{}) with the reduction block size of `config`, and gives
// the number of reduction blocks (one per sample, at most 65535 (config 0) or 3).
template <class F>
void lcn_cuda_reduce_dispatch(int config, F&& f) {
  if (config == 0) {
    f(std::integral_constant<int, 256>{});
  } else {
    f(std::integral_constant<int, 64>{});
  }
}
inline dim3 lcn_cuda_reduce_grid(int64_t N, int config) {
  const int64_t cap = config == 0 ? 65535 : 3;
  return dim3(static_cast<unsigned>(N < cap ? N : cap));
}

__device__ __forceinline__ int64_t lcn_max64(int64_t a, int64_t b) { return a > b ? a : b; }
__device__ __forceinline__ int64_t lcn_min64(int64_t a, int64_t b) { return a < b ? a : b; }

// The in-bounds tap sum for coordinate i of an axis of length n (increasing offsets, from 0).
__device__ __forceinline__ float lcn_tap_sum(const LcnArgs& a, int64_t i, int64_t n) {
  float s = 0.0f;
  const int64_t p1 = lcn_min64(a.rr, n - 1 - i);
  for (int64_t p = lcn_max64(-a.rr, -i); p <= p1; ++p) s += a.taps[p + a.rr];
  return s;
}

// (A_x * B_y) * C: the window normaliser of position (i, j) times the number of maps.
__device__ __forceinline__ float lcn_zc(const LcnArgs& a, int64_t i, int64_t j) {
  return (lcn_tap_sum(a, i, a.H) * lcn_tap_sum(a, j, a.W)) * static_cast<float>(a.C);
}

// The vertical window pass at (i, j) of the plane T (H x W).
__device__ __forceinline__ float lcn_vblur(const LcnArgs& a, const float* T, int64_t i, int64_t j) {
  float acc = 0.0f;
  const int64_t p1 = lcn_min64(a.rr, a.H - 1 - i);
  for (int64_t p = lcn_max64(-a.rr, -i); p <= p1; ++p)
    acc += a.taps[p + a.rr] * T[(i + p) * a.W + j];
  return acc;
}

__device__ __forceinline__ float lcn_select(float c, float s, float eps) {
  return (c >= s && c >= eps) ? c : (s >= eps ? s : eps);
}

// out[n][i][j] = sum_q a_q in[n][i][j + q] (in-bounds q increasing): the horizontal pass.
__global__ void lcn_hblur_kernel(float* __restrict__ out, const float* __restrict__ in, LcnArgs a) {
  const int64_t total = a.N * a.H * a.W;
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t k = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; k < total; k += step) {
    const int64_t j = k % a.W;
    float acc = 0.0f;
    const int64_t q1 = lcn_min64(a.rr, a.W - 1 - j);
    for (int64_t q = lcn_max64(-a.rr, -j); q <= q1; ++q) acc += a.taps[q + a.rr] * in[k + q];
    out[k] = acc;
  }
}

// P = sum_j (x_j - s) per position.
__global__ void lcn_center_sum_kernel(float* __restrict__ P, const float* __restrict__ x,
                                      LcnArgs a) {
  const int64_t HW = a.H * a.W, total = a.N * HW;
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t k = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; k < total; k += step) {
    const int64_t n = k / HW, i = k - n * HW;
    const float* xs = x + n * a.C * HW;
    const float s = xs[0];
    float acc = 0.0f;
    for (int64_t c = 0; c < a.C; ++c) acc += xs[c * HW + i] - s;
    P[k] = acc;
  }
}

// m = s + vblur(T) / zc, Q = sum_j (x_j - m)^2.
__global__ void lcn_mean_kernel(float* __restrict__ mean, float* __restrict__ Q,
                                const float* __restrict__ T, const float* __restrict__ x,
                                LcnArgs a) {
  const int64_t HW = a.H * a.W, total = a.N * HW;
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t k = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; k < total; k += step) {
    const int64_t n = k / HW, i = k - n * HW, r = i / a.W, col = i - r * a.W;
    const float* xs = x + n * a.C * HW;
    const float m = xs[0] + lcn_vblur(a, T + n * HW, r, col) / lcn_zc(a, r, col);
    mean[k] = m;
    float acc = 0.0f;
    for (int64_t c = 0; c < a.C; ++c) {
      const float v = xs[c * HW + i] - m;
      acc += v * v;
    }
    Q[k] = acc;
  }
}

// sigma = sqrt(vblur(T) / zc).
__global__ void lcn_sigma_kernel(float* __restrict__ sigma_map, const float* __restrict__ T,
                                 LcnArgs a) {
  const int64_t HW = a.H * a.W, total = a.N * HW;
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t k = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; k < total; k += step) {
    const int64_t n = k / HW, i = k - n * HW, r = i / a.W, col = i - r * a.W;
    sigma_map[k] = sqrtf(lcn_vblur(a, T + n * HW, r, col) / lcn_zc(a, r, col));
  }
}

// red[0] = sum of red[0 .. T) by a fixed tree; every thread calls it after writing red[t]. Ends
// with a barrier, so red[0] is then visible to all.
template <int T>
__device__ __forceinline__ void lcn_block_sum(double (&red)[T], int t) {
  __syncthreads();
  for (int s = T / 2; s > 0; s >>= 1) {
    if (t < s) red[t] += red[t + s];
    __syncthreads();
  }
}

// c[n] = float(sum over positions of sigma / HW), one block per sample.
template <int T>
__global__ void lcn_c_kernel(float* __restrict__ c, const float* __restrict__ sigma_map,
                             LcnArgs a) {
  LF_SHARED(double, red, [T]);
  const int t = static_cast<int>(threadIdx.x);
  const int64_t HW = a.H * a.W;
  for (int64_t n = blockIdx.x; n < a.N; n += gridDim.x) {
    double s = 0.0;
    for (int64_t i = t; i < HW; i += T) s += sigma_map[n * HW + i];
    red[t] = s;
    lcn_block_sum<T>(red, t);
    if (t == 0) c[n] = static_cast<float>(red[0] / static_cast<double>(HW));
    __syncthreads();  // red[0] is read before the next sample overwrites it
  }
}

// y = (x - m) / d, one thread per element.
__global__ void lcn_output_kernel(float* __restrict__ y, const float* __restrict__ x,
                                  const float* __restrict__ mean,
                                  const float* __restrict__ sigma_map, const float* __restrict__ c,
                                  LcnArgs a) {
  const int64_t HW = a.H * a.W, total = a.N * a.C * HW;
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t k = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; k < total; k += step) {
    const int64_t i = k % HW, n = k / (a.C * HW), pos = n * HW + i;
    y[k] = (x[k] - mean[pos]) / lcn_select(c[n], sigma_map[pos], a.eps);
  }
}

// gd = -sum_j dy_j (x_j - m) / d^2 at position pos of sample n (the CPU's order).
__device__ __forceinline__ float lcn_gd(const LcnArgs& a, const float* dy, const float* x, float m,
                                        float d, int64_t n, int64_t i) {
  const int64_t HW = a.H * a.W;
  const float* xs = x + n * a.C * HW;
  const float* gs = dy + n * a.C * HW;
  float G = 0.0f;
  for (int64_t c = 0; c < a.C; ++c) G += gs[c * HW + i] * (xs[c * HW + i] - m);
  return -(G / (d * d));
}

// gc_hw[n] = float(sum of gd where c is selected / HW), one block per sample.
template <int T>
__global__ void lcn_bwd_gc_kernel(float* __restrict__ gc_hw, const float* __restrict__ dy,
                                  const float* __restrict__ x, const float* __restrict__ mean,
                                  const float* __restrict__ sigma_map, const float* __restrict__ c,
                                  LcnArgs a) {
  LF_SHARED(double, red, [T]);
  const int t = static_cast<int>(threadIdx.x);
  const int64_t HW = a.H * a.W;
  for (int64_t n = blockIdx.x; n < a.N; n += gridDim.x) {
    const float cn = c[n];
    double s = 0.0;
    for (int64_t i = t; i < HW; i += T) {
      const float sg = sigma_map[n * HW + i];
      if (cn >= sg && cn >= a.eps) s += lcn_gd(a, dy, x, mean[n * HW + i], cn, n, i);
    }
    red[t] = s;
    lcn_block_sum<T>(red, t);
    if (t == 0) gc_hw[n] = static_cast<float>(red[0] / static_cast<double>(HW));
    __syncthreads();
  }
}

// A = gs2 / zc with gs2 = gsig / (2 sigma) (0 where sigma == 0).
__global__ void lcn_bwd_gs2_kernel(float* __restrict__ A, const float* __restrict__ dy,
                                   const float* __restrict__ x, const float* __restrict__ mean,
                                   const float* __restrict__ sigma_map, const float* __restrict__ c,
                                   const float* __restrict__ gc_hw, LcnArgs a) {
  const int64_t HW = a.H * a.W, total = a.N * HW;
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t k = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; k < total; k += step) {
    const int64_t n = k / HW, i = k - n * HW, r = i / a.W, col = i - r * a.W;
    const float cn = c[n], sg = sigma_map[k];
    const bool by_c = cn >= sg && cn >= a.eps;
    const float d = lcn_select(cn, sg, a.eps);
    const float gd = (!by_c && sg >= a.eps) ? lcn_gd(a, dy, x, mean[k], d, n, i) : 0.0f;
    const float gsig = gd + gc_hw[n];
    const float gs2 = sg > 0.0f ? gsig / (2.0f * sg) : 0.0f;
    A[k] = gs2 / lcn_zc(a, r, col);
  }
}

// R = vblur(B); dx_j = gv_j = dy_j / d + 2 v_j R; A = -(sum_j gv_j) / zc.
__global__ void lcn_bwd_gv_kernel(float* __restrict__ dx, float* __restrict__ A,
                                  const float* __restrict__ B, const float* __restrict__ dy,
                                  const float* __restrict__ x, const float* __restrict__ mean,
                                  const float* __restrict__ sigma_map, const float* __restrict__ c,
                                  LcnArgs a) {
  const int64_t HW = a.H * a.W, total = a.N * HW;
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t k = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; k < total; k += step) {
    const int64_t n = k / HW, i = k - n * HW, r = i / a.W, col = i - r * a.W;
    const float R = lcn_vblur(a, B + n * HW, r, col);
    const float d = lcn_select(c[n], sigma_map[k], a.eps), m = mean[k];
    const int64_t base = n * a.C * HW + i;
    float gm = 0.0f;
    for (int64_t ch = 0; ch < a.C; ++ch) {
      const int64_t e = base + ch * HW;
      const float gv = dy[e] / d + (2.0f * (x[e] - m)) * R;
      dx[e] = gv;
      gm += gv;
    }
    A[k] = -gm / lcn_zc(a, r, col);
  }
}

// dx_j += vblur(B).
__global__ void lcn_bwd_dx_kernel(float* __restrict__ dx, const float* __restrict__ B, LcnArgs a) {
  const int64_t HW = a.H * a.W, total = a.N * HW;
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t k = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; k < total; k += step) {
    const int64_t n = k / HW, i = k - n * HW, r = i / a.W, col = i - r * a.W;
    const float P = lcn_vblur(a, B + n * HW, r, col);
    const int64_t base = n * a.C * HW + i;
    for (int64_t ch = 0; ch < a.C; ++ch) dx[base + ch * HW] += P;
  }
}

// The launch sequences, shared by the launcher (LAUNCH = a <<<>>> on the stream) and the emulator
// (LAUNCH = emu::launch under a schedule): launch(grid, block, kernel, args...).
template <class Launch>
void lcn_forward_sequence(const Launch& launch, float* y, float* mean, float* sigma_map, float* c,
                          const float* x, const LcnArgs& a, int config) {
  const int64_t npos = a.N * a.H * a.W;
  if (npos == 0) return;
  const LcnLaunch g = lcn_cuda_geometry(npos, config), ge = lcn_cuda_geometry(npos * a.C, config);
  launch(g.grid, g.block, &lcn_center_sum_kernel, sigma_map, x, a);
  launch(g.grid, g.block, &lcn_hblur_kernel, y, static_cast<const float*>(sigma_map), a);
  launch(g.grid, g.block, &lcn_mean_kernel, mean, sigma_map, static_cast<const float*>(y), x, a);
  launch(g.grid, g.block, &lcn_hblur_kernel, y, static_cast<const float*>(sigma_map), a);
  launch(g.grid, g.block, &lcn_sigma_kernel, sigma_map, static_cast<const float*>(y), a);
  lcn_cuda_reduce_dispatch(config, [&](auto tc) {
    constexpr int T = decltype(tc)::value;
    launch(lcn_cuda_reduce_grid(a.N, config), dim3(T), &lcn_c_kernel<T>, c,
           static_cast<const float*>(sigma_map), a);
  });
  launch(ge.grid, ge.block, &lcn_output_kernel, y, x, static_cast<const float*>(mean),
         static_cast<const float*>(sigma_map), static_cast<const float*>(c), a);
}

template <class Launch>
void lcn_backward_sequence(const Launch& launch, float* dx, float* work, const float* dy,
                           const float* x, const float* mean, const float* sigma_map,
                           const float* c, const LcnArgs& a, int config) {
  const int64_t npos = a.N * a.H * a.W;
  if (npos == 0) return;
  float* A = work;
  float* B = work + npos;
  float* gc = work + 2 * npos;
  const LcnLaunch g = lcn_cuda_geometry(npos, config);
  lcn_cuda_reduce_dispatch(config, [&](auto tc) {
    constexpr int T = decltype(tc)::value;
    launch(lcn_cuda_reduce_grid(a.N, config), dim3(T), &lcn_bwd_gc_kernel<T>, gc, dy, x, mean,
           sigma_map, c, a);
  });
  launch(g.grid, g.block, &lcn_bwd_gs2_kernel, A, dy, x, mean, sigma_map, c,
         static_cast<const float*>(gc), a);
  launch(g.grid, g.block, &lcn_hblur_kernel, B, static_cast<const float*>(A), a);
  launch(g.grid, g.block, &lcn_bwd_gv_kernel, dx, A, static_cast<const float*>(B), dy, x, mean,
         sigma_map, c, a);
  launch(g.grid, g.block, &lcn_hblur_kernel, B, static_cast<const float*>(A), a);
  launch(g.grid, g.block, &lcn_bwd_dx_kernel, dx, static_cast<const float*>(B), a);
}

}  // namespace lf::LF_KERNEL_NS
