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

}  // namespace lf
