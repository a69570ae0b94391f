// 2-D pooling over NCHW float32: max, average and L2, forward and backward (CPU).
//
// Shapes. x is (N, C, H, W), C-contiguous; y (and argmax, dy) is (N, C, OH, OW) with
//   OH = floor((H + 2 ph - kh) / sh) + 1,  OW = floor((W + 2 pw - kw) / sw) + 1   (>= 1),
// window (kh, kw) >= 1, stride (sh, sw) >= 1, zero padding 0 <= ph <= kh / 2, 0 <= pw <= kw / 2
// (PyTorch's rule; integer division). Output (oh, ow) covers the input rows
// [oh*sh - ph, oh*sh - ph + kh) and columns [ow*sw - pw, ow*sw - pw + kw), clipped to the input.
// Under the padding rule every window holds at least one input element. Any window and stride
// are allowed, overlapping ones (3x3 stride 2) included.
//
// Modes:
//   max  y = the largest input of the window; padded positions are -inf and never selected.
//        argmax (int32) = the flat index h*W + w, in the input plane, of the element selected:
//        the FIRST maximum in row-major window order (ties go to the earlier element). NaN
//        propagates: a window holding a NaN gives y = NaN and argmax = its first NaN. A window
//        whose inputs are all -inf gives -inf and its first input element.
//        Backward: dx[n, c, argmax[o]] += dy[o] for every output o of the plane.
//   avg  y = (sum of the window's inputs) / (kh * kw): padded positions count as zeros and the
//        divisor is always kh * kw (PyTorch's count_include_pad=True).
//        Backward: every input of output o's window receives dy[o] / (kh * kw).
//   l2   y = sqrt(sum of the window's x^2) (padding contributes 0), squares summed in float32
//        (|x| above ~1.8e19 overflows to y = inf).
//        Backward: every input of o's window receives dy[o] * x * r with r = 1 / y[o], and
//        r = 0 where y[o] == 0 (an all-zero window has gradient 0, never NaN: the subgradient
//        0 of the norm at 0). Non-finite x gives non-finite gradients.
//   Differences from torch.nn.functional.lp_pool2d(x, 2, ...): that one computes
//   sqrt(kh*kw * avg_pool2d(x^2)) with sign(.) * relu(.) around it, has no padding argument, and
//   its gradient at an all-zero window is NaN (0/0); here padding is allowed and the gradient
//   there is 0. Where both are defined they agree up to rounding.
//
// Backward writes (overwrites) every element of dx, zeros for inputs no window covers. With
// overlapping windows several outputs reach one input: each (n, c) plane is accumulated by one
// thread in a fixed order (outputs in row-major order, starting from +0), so results are bitwise
// independent of the thread count. The CUDA kernel (ops/pool2d_cuda.cuh) gathers each input's
// contributions in the same order and gives the same bits for max and avg.
//
// Sizes: H * W < 2^31 (argmax is int32). Bad arguments throw std::invalid_argument naming them.
#pragma once

#include <cstdint>

#include "core/check.h"

namespace lf {

enum class PoolMode : int { max = 0, avg = 1, l2 = 2 };

// The geometry of one pooling problem; build it with pool2d_shape (which validates it).
struct Pool2dShape {
  int64_t n, c, h, w;  // input (N, C, H, W)
  int64_t kh, kw;      // window
  int64_t sh, sw;      // stride
  int64_t ph, pw;      // zero padding
  int64_t oh, ow;      // output rows and columns
  int64_t planes() const { return n * c; }
};

// Validates the arguments against the rules above (errors name kernel_size, stride, padding or
// the input) and computes the output size. Header-inline: the CUDA launcher and the emulator
// use it too.
inline Pool2dShape pool2d_shape(int64_t n, int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw,
                                int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  LF_CHECK(n >= 0 && c >= 0, "pool2d: negative batch or channel count (", n, ", ", c, ")");
  LF_CHECK(h >= 1 && w >= 1, "pool2d: input height and width must be >= 1, got (", h, ", ", w, ")");
  LF_CHECK(h <= INT32_MAX / w, "pool2d: an input plane of ", h, " x ", w,
           " elements does not fit the int32 argmax");
  LF_CHECK(kh >= 1 && kw >= 1 && kh <= INT32_MAX && kw <= INT32_MAX,
           "pool2d: kernel_size must be >= 1, got (", kh, ", ", kw, ")");
  LF_CHECK(sh >= 1 && sw >= 1 && sh <= INT32_MAX && sw <= INT32_MAX,
           "pool2d: stride must be >= 1, got (", sh, ", ", sw, ")");
  LF_CHECK(ph >= 0 && pw >= 0 && ph <= kh / 2 && pw <= kw / 2,
           "pool2d: padding must satisfy 0 <= padding <= kernel_size / 2, got padding (", ph, ", ",
           pw, ") for kernel_size (", kh, ", ", kw, ")");
  LF_CHECK(kh <= h + 2 * ph && kw <= w + 2 * pw, "pool2d: kernel_size (", kh, ", ", kw,
           ") is larger than the padded input (", h + 2 * ph, ", ", w + 2 * pw, ")");
  const int64_t oh = (h + 2 * ph - kh) / sh + 1, ow = (w + 2 * pw - kw) / sw + 1;
  LF_CHECK(c == 0 || n <= INT64_MAX / c / h / w, "pool2d: input size overflows int64");
  return {n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow};
}

// y: (N, C, OH, OW); argmax: (N, C, OH, OW) int32, written in max mode only (may be null
// otherwise); x: (N, C, H, W). y and argmax must not overlap x. Optimized: OpenMP over the
// (n, c) planes, SIMD inner loops for the 2x2 stride 2 and 3x3 stride 2 windows.
void pool2d_forward_cpu(float* y, int32_t* argmax, const float* x, const Pool2dShape& s,
                        PoolMode mode, int num_threads);

// Reference (serial, obvious loops; avg and l2 sum in double). Same outputs and contract.
void pool2d_forward_naive(float* y, int32_t* argmax, const float* x, const Pool2dShape& s,
                          PoolMode mode);

// dx: (N, C, H, W), overwritten; dy: (N, C, OH, OW). Mode max reads argmax (each entry must be a
// valid index into the plane: 0 <= argmax < H*W, else std::invalid_argument and dx is
// unspecified); avg reads neither argmax nor x nor y (pass null); l2 reads x and y (the forward
// output). dx must not overlap the inputs.
void pool2d_backward_cpu(float* dx, const float* dy, const int32_t* argmax, const float* x,
                         const float* y, const Pool2dShape& s, PoolMode mode, int num_threads);

// Reference (serial; l2 and avg accumulate in double). Same contract.
void pool2d_backward_naive(float* dx, const float* dy, const int32_t* argmax, const float* x,
                           const float* y, const Pool2dShape& s, PoolMode mode);

// CUDA (ops/pool2d_cuda.cu): the same contract with device pointers and a stream (a
// cudaStream_t as void*). Forward: one thread per output; backward: one thread per input element,
// gathering from the outputs whose windows cover it in row-major output order (no atomics), so
// max and avg give the CPU kernel's bits. Max-mode argmax entries out of range match no input on
// the device (the host entry points below reject them first).
void pool2d_forward_cuda(float* y, int32_t* argmax, const float* x, const Pool2dShape& s,
                         PoolMode mode, void* stream);
void pool2d_backward_cuda(float* dx, const float* dy, const int32_t* argmax, const float* x,
                          const float* y, const Pool2dShape& s, PoolMode mode, void* stream);
// Number of launch configurations (block size, grid cap) of the CUDA kernels; the two above use
// config 0, the tests run them all.
inline constexpr int kPool2dCudaConfigs = 2;
void pool2d_forward_cuda_config(float* y, int32_t* argmax, const float* x, const Pool2dShape& s,
                                PoolMode mode, int config, void* stream);
void pool2d_backward_cuda_config(float* dx, const float* dy, const int32_t* argmax, const float* x,
                                 const float* y, const Pool2dShape& s, PoolMode mode, int config,
                                 void* stream);
// The _config entries on HOST arrays (copies in and out, synchronous), for tests and the binding.
void pool2d_forward_cuda_from_host(float* y, int32_t* argmax, const float* x, const Pool2dShape& s,
                                   PoolMode mode, int config);
void pool2d_backward_cuda_from_host(float* dx, const float* dy, const int32_t* argmax,
                                    const float* x, const float* y, const Pool2dShape& s,
                                    PoolMode mode, int config);

}  // namespace lf
