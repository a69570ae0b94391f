// Local contrast normalisation over NCHW float32 (Jarrett et al. 2009, "What is the best
// multi-stage architecture for object recognition?"; Le et al. 2012): the contract shared by the
// CPU and CUDA siblings.
//
// x is (N, C, H, W), C-contiguous; every sample n is normalised on its own. The window is a
// Gaussian of odd side `size` (radius r = size / 2) and standard deviation `sigma` (pixels):
// w_pq = g(p) g(q) / (sum_p' g(p'))^2, g(p) = exp(-p^2 / (2 sigma^2)), |p|, |q| <= r, spread across
// the C maps (weights w_pq / C, summing to 1 over j, p, q). Zero padding, with the window
// renormalised at each position by Z_xy = the sum of its in-bounds weights, so the local sums are
// weighted averages everywhere (a constant image gives v = 0 at the border too):
//   m_xy     = sum_{j,p,q} w_pq x_{j,x+p,y+q} / (C Z_xy)                 (local mean, all maps)
//   v_jxy    = x_jxy - m_xy
//   sigma_xy = sqrt( sum_{j,p,q} w_pq v_{j,x+p,y+q}^2 / (C Z_xy) )       (local std, all maps)
//   c        = mean over (x, y) of sigma_xy                                (per sample)
//   d_xy     = max(c, sigma_xy, eps),  y_jxy = v_jxy / d_xy
// The max is a selection with ties resolved as: c when c >= sigma_xy and c >= eps, else sigma_xy
// when sigma_xy >= eps, else eps (a constant). The renormalisation cancels the window's normalising
// constant, so only the taps with |p| <= min(r, max(H, W) - 1) are computed (an image smaller than
// the window is allowed and uses the in-bounds part of it). eps is rounded to float32 once.
//
// Outputs of the forward (all overwritten): y (N, C, H, W), mean = m (N, H, W), sigma (N, H, W), c
// (N,). The backward reads x and these three (v = x - mean is recomputed) and writes dx (N, C, H,
// W), the exact (sub)gradient of the definition above:
//   gd_xy    = -sum_j dy_jxy v_jxy / d_xy^2
//   gc       = sum over (x, y) where c is selected of gd_xy
//   gsig_xy  = [sigma_xy selected] gd_xy + gc / (H W)
//   gs2_xy   = gsig_xy / (2 sigma_xy), and 0 where sigma_xy == 0 (the subgradient 0 of the norm
//              at 0, as for L2 pooling; a window with v = 0 everywhere)
//   gv_jxy   = dy_jxy / d_xy + 2 v_jxy M'[gs2]_xy,   gm_xy = -sum_j gv_jxy
//   dx_jxy   = gv_jxy + M'[gm]_xy
// where M'[f]_uv = sum_{p,q} w_pq f_{u-p,v-q} / (C Z_{u-p,v-q}) (in-bounds terms) is the adjoint of
// the window average (the Gaussian is symmetric, so it is the same zero-padded window sum applied
// to f / (C Z)).
//
// Numerics of the optimized kernels (CPU and CUDA alike): float32; the window sums are separable,
// a horizontal then a vertical 1-D pass of the float32 taps (each output sums its in-bounds terms
// in increasing offset order, from 0); Z_xy = (A_x B_y) with A, B the float sums of the in-bounds
// taps; the local mean is taken relative to the sample's first element x[n, 0, 0, 0] (exact in
// math; a constant sample gives exactly y = 0); c and gc sum in double. Every reduction has a
// fixed order (the CPU runs one sample per task), so results are bitwise independent of the
// thread count.
//
// Bad arguments (even or non-positive size, sigma or eps not finite and > 0, C < 1 with a
// non-empty image, H or W < 1) throw std::invalid_argument.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/check.h"

namespace lf {

// The argument checks shared by every sibling.
inline void lcn_check_args(int64_t N, int64_t C, int64_t H, int64_t W, int64_t size, double sigma,
                           double eps) {
  LF_CHECK(N >= 0 && C >= 1 && H >= 1 && W >= 1,
           "local_contrast_norm2d: expected N >= 0, C >= 1, H >= 1, W >= 1, got (", N, ", ", C,
           ", ", H, ", ", W, ")");
  LF_CHECK(size >= 1 && size % 2 == 1 && size <= INT32_MAX,
           "local_contrast_norm2d: size must be an odd int >= 1, got ", size);
  LF_CHECK(std::isfinite(sigma) && sigma > 0.0,
           "local_contrast_norm2d: sigma must be a finite number > 0, got ", sigma);
  LF_CHECK(std::isfinite(eps) && eps > 0.0,
           "local_contrast_norm2d: eps must be a finite number > 0, got ", eps);
  LF_CHECK(N == 0 || N <= INT64_MAX / C / H / W, "local_contrast_norm2d: input size overflows");
}

// The radius of the taps that can reach an in-bounds pixel: min(size / 2, max(H, W) - 1).
inline int64_t lcn_radius(int64_t size, int64_t H, int64_t W) {
  const int64_t r = size / 2, reach = (H > W ? H : W) - 1;
  return r < reach ? r : reach;
}

// The float32 1-D taps a[0 .. 2 rr] (offset p = i - rr), rr = lcn_radius: exp(-p^2 / (2 sigma^2))
// normalised to sum 1 over those taps, computed in double and rounded once.
inline std::vector<float> lcn_taps(int64_t size, double sigma, int64_t H, int64_t W) {
  const int64_t rr = lcn_radius(size, H, W);
  std::vector<double> g(static_cast<size_t>(2 * rr + 1));
  double sum = 0.0;
  for (int64_t i = 0; i <= 2 * rr; ++i) {
    const double t = static_cast<double>(i - rr) / sigma;  // no 0/0 for a sigma near 0
    g[static_cast<size_t>(i)] = std::exp(-0.5 * t * t);
    sum += g[static_cast<size_t>(i)];
  }
  std::vector<float> a(g.size());
  for (size_t i = 0; i < g.size(); ++i) a[i] = static_cast<float>(g[i] / sum);
  return a;
}

// ---- CPU. Optimized: OpenMP over samples, SIMD-friendly separable passes.
void local_contrast_norm2d_forward_cpu(float* y, float* mean, float* sigma_map, float* c,
                                       const float* x, int64_t N, int64_t C, int64_t H, int64_t W,
                                       int64_t size, double sigma, double eps, int num_threads);
void local_contrast_norm2d_backward_cpu(float* dx, const float* dy, const float* x,
                                        const float* mean, const float* sigma_map, const float* c,
                                        int64_t N, int64_t C, int64_t H, int64_t W, int64_t size,
                                        double sigma, double eps, int num_threads);

// References (serial, double, the obvious loops over the 2-D window, Z summed per position). The
// backward recomputes m, v, sigma and c from x in double (its `mean`, `sigma_map` and `c` are
// not read), so its selection of the max is the double one.
void local_contrast_norm2d_forward_naive(float* y, float* mean, float* sigma_map, float* c,
                                         const float* x, int64_t N, int64_t C, int64_t H, int64_t W,
                                         int64_t size, double sigma, double eps);
void local_contrast_norm2d_backward_naive(float* dx, const float* dy, const float* x,
                                          const float* mean, const float* sigma_map, const float* c,
                                          int64_t N, int64_t C, int64_t H, int64_t W, int64_t size,
                                          double sigma, double eps);

// ---- CUDA (ops/local_contrast_norm2d_cuda.cu): the same contract on device pointers and a stream
// (cudaStream_t as void*). One thread per (n, x, y) for the window passes and the statistics, one
// per element for the output, one block per sample for c and gc (a double tree reduction through
// shared memory). The forward uses y and sigma_map as scratch while it runs; the backward needs
// `work`, a device buffer of local_contrast_norm2d_cuda_work_size(N, H, W) floats. The taps travel
// in the kernel arguments: the radius lcn_radius(size, H, W) must be <= kLcnCudaMaxRadius.
// Against the CPU kernels: the same arithmetic except the order of the double sums of c and gc (and
// nvcc's contraction of multiply-adds into FMAs on a real device).
inline constexpr int kLcnCudaMaxRadius = 64;
inline constexpr int kLcnCudaConfigs = 2;  // (threads, reduction block): (256, 256), (96 x 5, 64)
inline int64_t local_contrast_norm2d_cuda_work_size(int64_t N, int64_t H, int64_t W) {
  return 2 * N * H * W + N;
}
void local_contrast_norm2d_forward_cuda(float* y, float* mean, float* sigma_map, float* c,
                                        const float* x, int64_t N, int64_t C, int64_t H, int64_t W,
                                        int64_t size, double sigma, double eps, int config,
                                        void* stream);
void local_contrast_norm2d_backward_cuda(float* dx, float* work, const float* dy, const float* x,
                                         const float* mean, const float* sigma_map, const float* c,
                                         int64_t N, int64_t C, int64_t H, int64_t W, int64_t size,
                                         double sigma, double eps, int config, void* stream);
// The same on HOST arrays (copies in and out, synchronous), for tests and the bindings.
void local_contrast_norm2d_forward_cuda_from_host(float* y, float* mean, float* sigma_map, float* c,
                                                  const float* x, int64_t N, int64_t C, int64_t H,
                                                  int64_t W, int64_t size, double sigma, double eps,
                                                  int config);
void local_contrast_norm2d_backward_cuda_from_host(float* dx, const float* dy, const float* x,
                                                   const float* mean, const float* sigma_map,
                                                   const float* c, int64_t N, int64_t C, int64_t H,
                                                   int64_t W, int64_t size, double sigma,
                                                   double eps, int config);

}  // namespace lf
