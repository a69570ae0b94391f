// Elementwise activations and row softmax on float32 arrays (CPU), forward and backward.
//
// All arrays are contiguous; outputs come first. Work is split into fixed-size chunks (whole rows
// for softmax) that always go through the same code path, so results are bitwise independent of
// the thread count; small problems (< ~32K elements) run serially.
//
// The activations use the per-ISA math table of core/vec_math.h, as the GEMM epilogue does, so a
// fused Linear(act) and a separate activation give identical values. Backward passes take the saved
// OUTPUT y of the forward:
//   sigmoid: dx = dy * y * (1 - y)     tanh: dx = dy * (1 - y*y)     relu: dx = y > 0 ? dy : 0
//   none:    dx = dy
// Softmax over the last axis of a rows x cols matrix: y = exp(x - max) / sum(exp(x - max));
// backward dx = y * (dy - sum(dy * y)) per row. NaN in a row makes that row NaN.
#pragma once

#include <cstdint>

#include "core/activation.h"

namespace lf {

// y[0:n] = act(x[0:n]). y may equal x (in place); otherwise they must not overlap.
void activation_forward_cpu(float* y, const float* x, int64_t n, Activation act, int num_threads);

// dx[0:n] = dy * act'(from y). dx may equal dy.
void activation_backward_cpu(float* dx, const float* dy, const float* y, int64_t n, Activation act,
                             int num_threads);

// Row-wise softmax of a row-major rows x cols matrix. y may equal x.
void softmax_rows_cpu(float* y, const float* x, int64_t rows, int64_t cols, int num_threads);

// dx = y * (dy - rowsum(dy * y)). dx may equal dy.
void softmax_rows_backward_cpu(float* dx, const float* dy, const float* y, int64_t rows,
                               int64_t cols, int num_threads);

// References (serial): each value computed in double with <cmath> (std::exp, std::tanh) and
// rounded once to float32, so they differ from the vectorized kernels only by those kernels'
// approximation error (core/simd_math.h). Same NaN rules. The backward passes have no separate
// reference: they are already the per-element formulas above.
void activation_forward_naive(float* y, const float* x, int64_t n, Activation act);
void softmax_rows_naive(float* y, const float* x, int64_t rows, int64_t cols);

// ---- CUDA sibling (ops/elementwise_cuda.cu): the contracts above with DEVICE pointers, launched
// on `stream` (a cudaStream_t as void*; nullptr is the legacy default stream), asynchronous.
// Activations: one thread per element (grid-stride loop), the GEMM epilogue's device formulas
// (sigmoid 1 / (1 + expf(-x)), tanhf, relu passing NaN), so they differ from the CPU's SIMD math
// by a few ulp; the backward passes are the formulas above, evaluated without FMA contraction
// (the .cu is compiled with -fmad=false), so they equal the CPU's bit for bit. Softmax: one block
// per row (grid-stride over rows); the row max (NaN-propagating) and the sums (in double) are
// block reductions in a fixed tree order through shared memory, exp in float (expf), so results
// do not depend on scheduling; rows x cols may have any shape, including cols > block size.
// In-place (y == x, dx == dy) is allowed as on the CPU.
void activation_forward_cuda(float* y, const float* x, int64_t n, Activation act, void* stream);
void activation_backward_cuda(float* dx, const float* dy, const float* y, int64_t n, Activation act,
                              void* stream);
void softmax_rows_cuda(float* y, const float* x, int64_t rows, int64_t cols, void* stream);
void softmax_rows_backward_cuda(float* dx, const float* dy, const float* y, int64_t rows,
                                int64_t cols, void* stream);
// Row log-softmax (device only: the CPU path is numpy in latentforge.functional.LogSoftmax):
//   y = (x - max) - lse,  lse = float(log(sum_j exp(x_j - max)))  (sum in double, exp in float)
//   backward from the saved output y:  dx = dy - exp(y) * rowsum(dy)   (rowsum in double)
// NaN in a row makes that row NaN; an all -inf row is NaN (as numpy). y may equal x, dx dy.
void log_softmax_rows_cuda(float* y, const float* x, int64_t rows, int64_t cols, void* stream);
void log_softmax_rows_backward_cuda(float* dx, const float* dy, const float* y, int64_t rows,
                                    int64_t cols, void* stream);

// The kernels of the CUDA sibling, for the host-array entry below and the emulator.
enum class ElementwiseCudaOp : int {
  activation_forward = 0,   // out = act(a)                      a, out: n = rows * cols
  activation_backward = 1,  // out = a * act'(from b)            a = dy, b = y
  softmax_forward = 2,      // out = softmax_rows(a)
  softmax_backward = 3,     // out = b * (a - rowsum(a * b))     a = dy, b = y
  log_softmax_forward = 4,  // out = log_softmax_rows(a)
  log_softmax_backward = 5  // out = a - exp(b) * rowsum(a)      a = dy, b = y
};
// Launch configurations (block size, grid cap): the launchers above use 0, the tests run all.
inline constexpr int kElementwiseCudaConfigs = 2;
// `op` on HOST arrays (copies in and out, synchronous) under launch configuration `config`, for
// the device tests. The activations take n = rows * cols elements (rows = 1 is fine); b is
// unused (may be null) by the forward ops.
void elementwise_cuda_from_host(ElementwiseCudaOp op, float* out, const float* a, const float* b,
                                int64_t rows, int64_t cols, Activation act, int config);

}  // namespace lf
