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

// ---- CUDA sibling (ops/optim_cuda.cu): the contracts above with DEVICE pointers, launched on
// `stream` (a cudaStream_t as void*; nullptr is the legacy default stream), asynchronous. One
// thread per element (grid-stride loop), the CPU's per-element arithmetic in the same order,
// compiled with -fmad=false and IEEE sqrtf and `/`, with Adam's bias corrections computed on the
// host in double as on the CPU: every update equals the CPU kernel's bit for bit.
void sgd_step_cuda(float* param, const float* grad, int64_t n, float lr, float weight_decay,
                   float l1, void* stream);
void momentum_step_cuda(float* param, float* momentum_buf, const float* grad, int64_t n, float lr,
                        float momentum, float weight_decay, float l1, void* stream);
void nesterov_step_cuda(float* param, float* momentum_buf, const float* grad, int64_t n, float lr,
                        float momentum, float weight_decay, float l1, void* stream);
void adagrad_step_cuda(float* param, float* sum_sq, const float* grad, int64_t n, float lr,
                       float eps, float weight_decay, float l1, void* stream);
void rmsprop_step_cuda(float* param, float* square_avg, float* momentum_buf, const float* grad,
                       int64_t n, float lr, float alpha, float eps, float momentum,
                       float weight_decay, float l1, void* stream);
void adam_step_cuda(float* param, float* exp_avg, float* exp_avg_sq, const float* grad, int64_t n,
                    int64_t step, float lr, float beta1, float beta2, float eps, float weight_decay,
                    float l1, void* stream);
void adadelta_step_cuda(float* param, float* square_avg, float* acc_delta, const float* grad,
                        int64_t n, float lr, float rho, float eps, float weight_decay, float l1,
                        void* stream);
// Max-norm on the device. The count cannot be returned without a synchronization, so the
// launchers write per-vector flags instead: rescaled[k] = 1 if vector k was rescaled, else 0
// (rescaled may be nullptr; nothing is written when rows or cols is 0). Columns: one thread per
// column summing the rows in order in double, as the CPU does (same norms, same bits). Rows: one
// block per row, the squares summed in double in a fixed tree order (the norm may differ from the
// CPU's serial sum in the last double bits).
void max_norm_columns_cuda(float* W, int32_t* rescaled, int64_t rows, int64_t cols, float max_norm,
                           void* stream);
void max_norm_rows_cuda(float* W, int32_t* rescaled, int64_t rows, int64_t cols, float max_norm,
                        void* stream);

// The rules, for the host-array entry and the emulator.
enum class OptimRule : int { sgd, momentum, nesterov, adagrad, rmsprop, adam, adadelta };
// The hyperparameters of every rule (each rule reads its own; the names are the CPU arguments').
struct OptimHyper {
  float lr = 0.0f, momentum = 0.0f, alpha = 0.0f, rho = 0.0f, beta1 = 0.0f, beta2 = 0.0f;
  float eps = 0.0f, weight_decay = 0.0f, l1 = 0.0f;
  int64_t step = 1;
};
// Launch configurations (block size, grid cap): the launchers above use 0, the tests run all.
inline constexpr int kOptimCudaConfigs = 2;
// One step of `rule` on HOST arrays (copied in, updated on the device, copied back; synchronous)
// under launch configuration `config`, for the device tests. state0 / state1 are the rule's state
// buffers in the order of its CPU signature (momentum_buf; sum_sq; square_avg + momentum_buf or
// nullptr; exp_avg + exp_avg_sq; square_avg + acc_delta); unused ones may be nullptr.
void optim_step_cuda_from_host(OptimRule rule, float* param, float* state0, float* state1,
                               const float* grad, int64_t n, const OptimHyper& h, int config);
// Max-norm on a HOST matrix (axis 0: columns, 1: rows, as lf::ops / optim_max_norm); returns the
// number of vectors rescaled.
int64_t max_norm_cuda_from_host(float* W, int64_t rows, int64_t cols, float max_norm, int axis,
                                int config);

}  // namespace lf
