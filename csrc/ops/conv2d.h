// 2-D convolution (cross-correlation, PyTorch's conv2d) on float32 NCHW tensors: the contract
// shared by the CPU and CUDA siblings.
//
//   y[n, co, oh, ow] = bias[co] + sum_{ci, i, j} w[co, ci, i, j] * x[n, ci, oh*sh - ph + i,
//                                                                      ow*sw - pw + j]
//
// with x read as 0 outside [0, H) x [0, W) (zero padding). Dilation 1, groups 1.
// Shapes (all C-contiguous, row-major):
//   x  (N, C_in, H, W)        w  (C_out, C_in, kh, kw)       bias (C_out,) or nullptr
//   y  (N, C_out, OH, OW)     OH = (H + 2 ph - kh) / sh + 1, OW = (W + 2 pw - kw) / sw + 1
// Requirements (conv2d_check_args throws std::invalid_argument otherwise): sizes >= 0,
// kh, kw, sh, sw >= 1, ph, pw >= 0, the kernel fits in the padded input (kh <= H + 2 ph and
// kw <= W + 2 pw, so OH, OW >= 1), and every tensor's element count fits in int64.
//
// The three passes (dy is the gradient of y, same shape as y):
//   forward:          y overwritten.
//   backward_data:    dx (N, C_in, H, W) overwritten with d(sum y*dy)/dx.
//   backward_weights: dw (C_out, C_in, kh, kw) overwritten with d(sum y*dy)/dw; db (nullable,
//                     (C_out,)) overwritten with the sum of dy over N, OH and OW.
// Every output element is reduced in an order fixed by the shapes alone, so results are
// bitwise independent of the thread count. Outputs must not overlap inputs.
#pragma once

#include <cstdint>

#include "core/check.h"

namespace lf {

// The output size (OH, OW) after validating every argument; shared by all implementations.
struct Conv2dGeometry {
  int64_t OH, OW;
};

namespace conv2d_detail {
inline bool mul_ok(int64_t a, int64_t b, int64_t* out) {  // a, b >= 0
  if (a != 0 && b > INT64_MAX / a) return false;
  *out = a * b;
  return true;
}
// a*b*c*d without int64 overflow (all >= 0).
inline bool product_ok(int64_t a, int64_t b, int64_t c, int64_t d) {
  int64_t p = 0;
  return mul_ok(a, b, &p) && mul_ok(p, c, &p) && mul_ok(p, d, &p) &&
         p <= INT64_MAX / static_cast<int64_t>(sizeof(float));
}
}  // namespace conv2d_detail

inline Conv2dGeometry conv2d_check_args(int64_t N, int64_t C_in, int64_t H, int64_t W,
                                        int64_t C_out, int64_t kh, int64_t kw, int64_t sh,
                                        int64_t sw, int64_t ph, int64_t pw) {
  LF_CHECK(N >= 0 && C_in >= 0 && H >= 0 && W >= 0 && C_out >= 0, "conv2d: negative size N=", N,
           " C_in=", C_in, " H=", H, " W=", W, " C_out=", C_out);
  LF_CHECK(kh >= 1 && kw >= 1, "conv2d: kernel size must be >= 1, got ", kh, "x", kw);
  LF_CHECK(sh >= 1 && sw >= 1, "conv2d: stride must be >= 1, got (", sh, ", ", sw, ")");
  LF_CHECK(ph >= 0 && pw >= 0, "conv2d: padding must be >= 0, got (", ph, ", ", pw, ")");
  LF_CHECK(ph <= (INT64_MAX / 4 - H) / 2 && pw <= (INT64_MAX / 4 - W) / 2, "conv2d: padding (", ph,
           ", ", pw, ") overflows a 64-bit size");
  const int64_t Hp = H + 2 * ph, Wp = W + 2 * pw;
  LF_CHECK(kh <= Hp && kw <= Wp, "conv2d: kernel ", kh, "x", kw,
           " is larger than the padded input ", Hp, "x", Wp, " (H + 2*padding x W + 2*padding)");
  const Conv2dGeometry g{(Hp - kh) / sh + 1, (Wp - kw) / sw + 1};
  using conv2d_detail::product_ok;
  // x, y, w, and one image's im2col matrix (C_in*kh*kw x OH*OW) of the CPU kernels.
  LF_CHECK(product_ok(N, C_in, H, W) && product_ok(N, C_out, g.OH, g.OW) &&
               product_ok(C_out, C_in, kh, kw) && product_ok(C_in, kh, kw, 1) &&
               product_ok(g.OH, g.OW, 1, 1) && product_ok(C_in * kh * kw, g.OH * g.OW, 1, 1),
           "conv2d: a tensor size overflows a 64-bit size (N=", N, " C_in=", C_in, " H=", H,
           " W=", W, " C_out=", C_out, " kernel ", kh, "x", kw, ")");
  return g;
}

// ---- CPU (naive references: serial 7-loop sums with double accumulators) ----
void conv2d_forward_naive(float* y, const float* x, const float* w, const float* bias, int64_t N,
                          int64_t C_in, int64_t H, int64_t W, int64_t C_out, int64_t kh, int64_t kw,
                          int64_t sh, int64_t sw, int64_t ph, int64_t pw);
void conv2d_backward_data_naive(float* dx, const float* dy, const float* w, int64_t N, int64_t C_in,
                                int64_t H, int64_t W, int64_t C_out, int64_t kh, int64_t kw,
                                int64_t sh, int64_t sw, int64_t ph, int64_t pw);
void conv2d_backward_weights_naive(float* dw, float* db, const float* dy, const float* x, int64_t N,
                                   int64_t C_in, int64_t H, int64_t W, int64_t C_out, int64_t kh,
                                   int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw);

// ---- CPU (optimized: implicit GEMM, chunks of images in parallel, lf::gemm_forward_serial) ----
void conv2d_forward_cpu(float* y, const float* x, const float* w, const float* bias, int64_t N,
                        int64_t C_in, int64_t H, int64_t W, int64_t C_out, int64_t kh, int64_t kw,
                        int64_t sh, int64_t sw, int64_t ph, int64_t pw, int num_threads);
void conv2d_backward_data_cpu(float* dx, const float* dy, const float* w, int64_t N, int64_t C_in,
                              int64_t H, int64_t W, int64_t C_out, int64_t kh, int64_t kw,
                              int64_t sh, int64_t sw, int64_t ph, int64_t pw, int num_threads);
void conv2d_backward_weights_cpu(float* dw, float* db, const float* dy, const float* x, int64_t N,
                                 int64_t C_in, int64_t H, int64_t W, int64_t C_out, int64_t kh,
                                 int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                                 int num_threads);

// ---- CUDA siblings: device pointers, a cudaStream_t passed as void*; launch errors are thrown
// as std::runtime_error. A CPU-only build links stubs that throw "built without CUDA". ----
void conv2d_forward_cuda(float* y, const float* x, const float* w, const float* bias, int64_t N,
                         int64_t C_in, int64_t H, int64_t W, int64_t C_out, int64_t kh, int64_t kw,
                         int64_t sh, int64_t sw, int64_t ph, int64_t pw, void* stream);
void conv2d_backward_data_cuda(float* dx, const float* dy, const float* w, int64_t N, int64_t C_in,
                               int64_t H, int64_t W, int64_t C_out, int64_t kh, int64_t kw,
                               int64_t sh, int64_t sw, int64_t ph, int64_t pw, void* stream);
void conv2d_backward_weights_cuda(float* dw, float* db, const float* dy, const float* x, int64_t N,
                                  int64_t C_in, int64_t H, int64_t W, int64_t C_out, int64_t kh,
                                  int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                                  void* stream);

// The three passes on HOST arrays (tests and the Python binding): inputs are copied to fresh
// device buffers, the kernel runs on the default stream, outputs are copied back; device memory
// is freed on every path. pass: 0 forward (out0 = y, in0 = x, in1 = w, in2 = bias or nullptr),
// 1 backward_data (out0 = dx, in0 = dy, in1 = w), 2 backward_weights (out0 = dw, out1 = db or
// nullptr, in0 = dy, in1 = x). Throws std::runtime_error on any CUDA error.
void conv2d_cuda_from_host(int pass, float* out0, float* out1, const float* in0, const float* in1,
                           const float* in2, int64_t N, int64_t C_in, int64_t H, int64_t W,
                           int64_t C_out, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                           int64_t ph, int64_t pw);

}  // namespace lf
