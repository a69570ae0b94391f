// Fused optimizer updates: the contract of the CPU kernels behind latentforge.optim.
//
// Every *_step_cpu function updates one parameter tensor IN PLACE in a single pass over its n
// elements (flattened, contiguous float32). param and the state buffers are read and written;
// grad is only read. No two of the pointers may overlap (the bindings check this). All math is
// float32; hyperparameters that depend on the step count (Adam's bias corrections) are computed
// once per call in double and rounded to float.
//
// Regularisation is applied to the gradient first, in the same pass (p is the value before
// the step):
//     g = grad + weight_decay * p + l1 * sign(p)          sign(0) = 0
// (plain L2 weight decay "coupled" to the gradient, as in torch.optim with weight_decay; for
// Adam this is Adam with L2, not AdamW.)
//
// Update rules, with the naming and defaults of torch.optim (so state dicts mean the same thing):
//   sgd:       p -= lr * g
//   momentum:  b = mu * b + g;  p -= lr * b                      (PyTorch form, dampening 0;
//              with a constant lr it equals the heavy-ball form v = mu v - lr g, p += v, v = -lr b)
//   nesterov:  b = mu * b + g;  p -= lr * (g + mu * b)
//   adagrad:   s += g^2;  p -= lr * g / (sqrt(s) + eps)
//   rmsprop:   s = alpha * s + (1 - alpha) * g^2;  d = sqrt(s) + eps
//              momentum == 0:  p -= lr * g / d
//              momentum  > 0:  b = mu * b + g / d;  p -= lr * b
//   adam:      m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2     (t = step >= 1)
//              p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//   adadelta:  s = rho s + (1 - rho) g^2;  dx = sqrt(a + eps) / sqrt(s + eps) * g
//              a = rho a + (1 - rho) dx^2;  p -= lr * dx
//
// Work is split over fixed 4096-element blocks (run serially below a size threshold), and each
// element is computed by the same code whatever the thread count, so results are bitwise
// independent of num_threads.
#pragma once

#include <cstdint>

namespace lf {

void sgd_step_cpu(float* param, const float* grad, int64_t n, float lr, float weight_decay,
                  float l1, int num_threads);

// momentum_buf: n floats (zeros before the first step).
void momentum_step_cpu(float* param, float* momentum_buf, const float* grad, int64_t n, float lr,
                       float momentum, float weight_decay, float l1, int num_threads);

void nesterov_step_cpu(float* param, float* momentum_buf, const float* grad, int64_t n, float lr,
                       float momentum, float weight_decay, float l1, int num_threads);

// sum_sq: running sum of squared gradients (zeros, or an initial accumulator value, at start).
void adagrad_step_cpu(float* param, float* sum_sq, const float* grad, int64_t n, float lr,
                      float eps, float weight_decay, float l1, int num_threads);

// square_avg: running average of g^2. momentum_buf: nullptr when momentum == 0, else n floats.
void rmsprop_step_cpu(float* param, float* square_avg, float* momentum_buf, const float* grad,
                      int64_t n, float lr, float alpha, float eps, float momentum,
                      float weight_decay, float l1, int num_threads);

// exp_avg, exp_avg_sq: first and second moments. step: 1 on the first update (the count
// including this update), used for the bias corrections.
void adam_step_cpu(float* param, float* exp_avg, float* exp_avg_sq, const float* grad, int64_t n,
                   int64_t step, float lr, float beta1, float beta2, float eps, float weight_decay,
                   float l1, int num_threads);

// square_avg: running average of g^2; acc_delta: running average of squared updates.
void adadelta_step_cpu(float* param, float* square_avg, float* acc_delta, const float* grad,
                       int64_t n, float lr, float rho, float eps, float weight_decay, float l1,
                       int num_threads);

// Max-norm constraint on incoming weight vectors. W is a row-major (in_features x out_features)
// matrix, as used by linear(X, W, b) = X @ W + b: the incoming weights of output unit j are the
// column W[:, j]. Every column whose L2 norm exceeds max_norm is scaled by max_norm / norm (norm
// accumulated in double, in a fixed row order). Returns the number of columns rescaled.
int64_t max_norm_columns_cpu(float* W, int64_t rows, int64_t cols, float max_norm, int num_threads);

// The same constraint on rows, for weights stored (out_features x in_features) as lf.nn.Linear
// does: the incoming weights of output unit i are the row W[i, :]. Returns the rows rescaled.
int64_t max_norm_rows_cpu(float* W, int64_t rows, int64_t cols, float max_norm, int num_threads);

}  // namespace lf
