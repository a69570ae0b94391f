// 2-D locally connected layer (untied weights: one filter per output position, Le et al. 2012)
// on float32 NCHW tensors: the contract shared by the CPU and CUDA siblings.
//
//   y[n, co, oh, ow] = bias[co, oh, ow] + sum_{ci, i, j} w[oh, ow, co, ci, i, j] *
//                                              x[n, ci, oh*sh + i, ow*sw + j]
//
// No padding, dilation 1, groups 1: like conv2d, but every output position (oh, ow) has its own
// conv2d-shaped weight (PyTorch's (C_out, C_in, kh, kw) order) and its own bias.
// Shapes (all C-contiguous, row-major):
//   x  (N, C_in, H, W)     w  (OH, OW, C_out, C_in, kh, kw)     bias (C_out, OH, OW) or nullptr
//   y  (N, C_out, OH, OW)  OH = (H - kh) / sh + 1, OW = (W - kw) / sw + 1
// Requirements (locally_connected2d_check_args throws std::invalid_argument otherwise): sizes
// >= 0, kh, kw, sh, sw >= 1, the kernel fits in the input (kh <= H, kw <= W, so OH, OW >= 1),
// and every tensor's element count (and the CPU kernels' batch-last copies) fits in int64.
//
// The three passes (dy is the gradient of y, same shape as y):
//   forward:          y overwritten.
//   backward_data:    dx (N, C_in, H, W) overwritten with d(sum y*dy)/dx.
//   backward_weights: dw (OH, OW, C_out, C_in, kh, kw) overwritten with d(sum y*dy)/dw, i.e.
//                     dw[oh, ow, co, ci, i, j] = sum_n dy[n, co, oh, ow] x[n, ci, oh*sh + i,
//                     ow*sw + j]; db (nullable, (C_out, OH, OW)) overwritten with the sum of dy
//                     over N.
// Every output element is reduced in an order fixed by the shapes alone, so results are bitwise
// independent of the thread count. Outputs must not overlap inputs.
#pragma once

#include <cstdint>
#include <initializer_list>

#include "core/check.h"

namespace lf {

// The output size (OH, OW) after validating every argument; shared by all implementations.
struct LocallyConnected2dGeometry {
  int64_t OH, OW;
};

namespace lc2d_detail {
inline bool mul_ok(int64_t a, int64_t b, int64_t* out) {  // a, b >= 0
  if (a != 0 && b > INT64_MAX / a) return false;
  *out = a * b;
  return true;
}
// The product of (non-negative) sizes, as floats, without int64 overflow of the bytes.
inline bool floats_ok(std::initializer_list<int64_t> sizes) {
  int64_t p = 1;
  for (const int64_t s : sizes) {
    if (!mul_ok(p, s, &p)) return false;
  }
  return p <= INT64_MAX / static_cast<int64_t>(sizeof(float));
}
}  // namespace lc2d_detail

inline LocallyConnected2dGeometry locally_connected2d_check_args(int64_t N, int64_t C_in, int64_t H,
                                                                 int64_t W, int64_t C_out,
                                                                 int64_t kh, int64_t kw, int64_t sh,
                                                                 int64_t sw) {
  LF_CHECK(N >= 0 && C_in >= 0 && H >= 0 && W >= 0 && C_out >= 0,
           "locally_connected2d: negative size N=", N, " C_in=", C_in, " H=", H, " W=", W,
           " C_out=", C_out);
  LF_CHECK(kh >= 1 && kw >= 1, "locally_connected2d: kernel size must be >= 1, got ", kh, "x", kw);
  LF_CHECK(sh >= 1 && sw >= 1, "locally_connected2d: stride must be >= 1, got (", sh, ", ", sw,
           ")");
  LF_CHECK(kh <= H && kw <= W, "locally_connected2d: kernel ", kh, "x", kw,
           " is larger than the input ", H, "x", W, " (no padding)");
  const LocallyConnected2dGeometry g{(H - kh) / sh + 1, (W - kw) / sw + 1};
  using lc2d_detail::floats_ok;
  // x, y, w, bias, and the CPU kernels' batch-last copies (N rounded up to 16 lanes).
  const int64_t N16 = N <= INT64_MAX - 15 ? (N + 15) / 16 * 16 : -1;
  LF_CHECK(N16 >= 0 && floats_ok({N, C_in, H, W}) && floats_ok({N16, C_in, H, W}) &&
               floats_ok({N16, C_out, g.OH, g.OW}) && floats_ok({g.OH, g.OW, C_out, C_in, kh, kw}),
           "locally_connected2d: a tensor size overflows a 64-bit size (N=", N, " C_in=", C_in,
           " H=", H, " W=", W, " C_out=", C_out, " kernel ", kh, "x", kw, ")");
  return g;
}

// ---- CPU (naive references: serial loops with double accumulators) ----
void locally_connected2d_forward_naive(float* y, const float* x, const float* w, const float* bias,
                                       int64_t N, int64_t C_in, int64_t H, int64_t W, int64_t C_out,
                                       int64_t kh, int64_t kw, int64_t sh, int64_t sw);
void locally_connected2d_backward_data_naive(float* dx, const float* dy, const float* w, int64_t N,
                                             int64_t C_in, int64_t H, int64_t W, int64_t C_out,
                                             int64_t kh, int64_t kw, int64_t sh, int64_t sw);
void locally_connected2d_backward_weights_naive(float* dw, float* db, const float* dy,
                                                const float* x, int64_t N, int64_t C_in, int64_t H,
                                                int64_t W, int64_t C_out, int64_t kh, int64_t kw,
                                                int64_t sh, int64_t sw);

// ---- CPU (optimized: batch-last copies, one small GEMM over the batch per output position,
// positions in parallel; see locally_connected2d_cpu.cpp) ----
void locally_connected2d_forward_cpu(float* y, const float* x, const float* w, const float* bias,
                                     int64_t N, int64_t C_in, int64_t H, int64_t W, int64_t C_out,
                                     int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                                     int num_threads);
void locally_connected2d_backward_data_cpu(float* dx, const float* dy, const float* w, int64_t N,
                                           int64_t C_in, int64_t H, int64_t W, int64_t C_out,
                                           int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                                           int num_threads);
void locally_connected2d_backward_weights_cpu(float* dw, float* db, const float* dy, const float* x,
                                              int64_t N, int64_t C_in, int64_t H, int64_t W,
                                              int64_t C_out, int64_t kh, int64_t kw, int64_t sh,
                                              int64_t sw, int num_threads);

// ---- CUDA siblings: device pointers, a cudaStream_t passed as void*; launch errors are thrown
// as std::runtime_error. A CPU-only build links stubs that throw "built without CUDA". ----
void locally_connected2d_forward_cuda(float* y, const float* x, const float* w, const float* bias,
                                      int64_t N, int64_t C_in, int64_t H, int64_t W, int64_t C_out,
                                      int64_t kh, int64_t kw, int64_t sh, int64_t sw, void* stream);
void locally_connected2d_backward_data_cuda(float* dx, const float* dy, const float* w, int64_t N,
                                            int64_t C_in, int64_t H, int64_t W, int64_t C_out,
                                            int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                                            void* stream);
void locally_connected2d_backward_weights_cuda(float* dw, float* db, const float* dy,
                                               const float* x, int64_t N, int64_t C_in, int64_t H,
                                               int64_t W, int64_t C_out, int64_t kh, int64_t kw,
                                               int64_t sh, int64_t sw, void* stream);

// The three passes on HOST arrays (tests and the Python binding): inputs are copied to fresh
// device buffers, the kernel runs on the default stream, outputs are copied back; device memory
// is freed on every path. pass: 0 forward (out0 = y, in0 = x, in1 = w, in2 = bias or nullptr),
// 1 backward_data (out0 = dx, in0 = dy, in1 = w), 2 backward_weights (out0 = dw, out1 = db or
// nullptr, in0 = dy, in1 = x). Throws std::runtime_error on any CUDA error.
void locally_connected2d_cuda_from_host(int pass, float* out0, float* out1, const float* in0,
                                        const float* in1, const float* in2, int64_t N, int64_t C_in,
                                        int64_t H, int64_t W, int64_t C_out, int64_t kh, int64_t kw,
                                        int64_t sh, int64_t sw);

}  // namespace lf
