// Batch normalisation (Ioffe & Szegedy, 2015) on float32: the contract shared by the CPU and CUDA
// siblings.
//
// Layout: x is C-contiguous and viewed as (N, C, HW): an NCHW tensor (HW = H * W) or an (N, C)
// matrix (HW = 1). Channel c owns the n = N * HW elements x[(i * C + c) * HW + j]. Every output is
// overwritten (never accumulated); gamma / beta may be nullptr (affine=False: gamma = 1, beta = 0);
// running_mean / running_var may be nullptr (not tracked).
//
// Training forward (n >= 2):
//   mean = sum(x) / n, var = sum((x - mean)^2) / n (biased), invstd = 1 / sqrt(var + eps)
//   y = (x - mean) * invstd * gamma + beta
//   running_mean = (1 - momentum) * running_mean + momentum * mean            (in place)
//   running_var  = (1 - momentum) * running_var  + momentum * var * n / (n - 1) (unbiased)
// The statistics are computed in two passes over a channel (the second sums d = x - mean_f32 and
// d^2, correcting the mean by sum(d) / n), with float partial sums over fixed chunks of a row
// added into double accumulators: accurate for a mean far from 0 (|mean| / std ~ 1e4) and bitwise
// independent of the thread count (channels are parallel; a channel's reduction order depends on
// the shape only). The saved mean is the float32 rounding of the batch mean.
//
// Training backward, with dxhat = dy * gamma and xhat = (x - mean) * invstd:
//   dx = invstd / n * (n * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat))
//   dgamma = sum(dy * xhat), dbeta = sum(dy)
// `mean` / `invstd` are the forward's saved ones. `mean` is the float32 rounding of the batch mean
// of x: the kernels use it as a shift and recover the rounding residual sum(x - mean) / n from x
// (zero for an exact mean), so xhat is centred exactly even when |mean| >> std.
// Evaluation: y = (x - mean) * invstd * gamma + beta with given statistics (invstd =
// 1 / sqrt(var + eps), computed in double and rounded to float32); its backward treats them as
// constants: dx = dy * gamma * invstd, dgamma = sum(dy * xhat), dbeta = sum(dy).
// dgamma / dbeta may be nullptr (not wanted). Outputs must not overlap inputs.
#pragma once

#include <cstdint>

namespace lf {

// y: (N, C, HW); mean, invstd: (C,) outputs. Throws std::invalid_argument when N * HW < 2 (with C
// > 0), eps is not finite and > 0, or momentum is not in [0, 1].
void batch_norm_forward_train_cpu(float* y, float* mean, float* invstd, float* running_mean,
                                  float* running_var, const float* x, const float* gamma,
                                  const float* beta, int64_t N, int64_t C, int64_t HW,
                                  double momentum, double eps, int num_threads);

// Reference (serial): the obvious loops with double accumulators, two passes.
void batch_norm_forward_train_naive(float* y, float* mean, float* invstd, float* running_mean,
                                    float* running_var, const float* x, const float* gamma,
                                    const float* beta, int64_t N, int64_t C, int64_t HW,
                                    double momentum, double eps);

// training = true: the training backward above (N * HW >= 2); false: the evaluation backward
// (mean / invstd constants). dx: (N, C, HW); dgamma, dbeta: (C,) or nullptr.
void batch_norm_backward_cpu(float* dx, float* dgamma, float* dbeta, const float* dy,
                             const float* x, const float* mean, const float* invstd,
                             const float* gamma, int64_t N, int64_t C, int64_t HW, bool training,
                             int num_threads);

// Reference (serial, double): in training the batch mean is recomputed from x in double.
void batch_norm_backward_naive(float* dx, float* dgamma, float* dbeta, const float* dy,
                               const float* x, const float* mean, const float* invstd,
                               const float* gamma, int64_t N, int64_t C, int64_t HW, bool training);

// Evaluation forward with given statistics mean / var (C,). Elementwise.
void batch_norm_forward_eval_cpu(float* y, const float* x, const float* gamma, const float* beta,
                                 const float* mean, const float* var, int64_t N, int64_t C,
                                 int64_t HW, double eps, int num_threads);

// invstd[c] = float(1 / sqrt(double(var[c]) + eps)): the evaluation's scale (shared by every
// sibling, so that the evaluation backward can be fed the same invstd).
void batch_norm_invstd(float* invstd, const float* var, int64_t C, double eps);

// ---- CUDA sibling (ops/batch_norm_cuda.cu): same contracts, device pointers, a stream
// (cudaStream_t as void*). One block per channel; block reductions in double through shared
// memory in a fixed tree order, so results do not depend on the scheduling. In a CPU-only build
// these throw "latentforge was built without CUDA".
inline constexpr int kBatchNormCudaConfigs = 2;  // block sizes 256 and 64

void batch_norm_forward_train_cuda(float* y, float* mean, float* invstd, float* running_mean,
                                   float* running_var, const float* x, const float* gamma,
                                   const float* beta, int64_t N, int64_t C, int64_t HW,
                                   double momentum, double eps, int config, void* stream);
void batch_norm_backward_cuda(float* dx, float* dgamma, float* dbeta, const float* dy,
                              const float* x, const float* mean, const float* invstd,
                              const float* gamma, int64_t N, int64_t C, int64_t HW, bool training,
                              int config, void* stream);
void batch_norm_forward_eval_cuda(float* y, const float* x, const float* gamma, const float* beta,
                                  const float* mean, const float* var, int64_t N, int64_t C,
                                  int64_t HW, double eps, int config, void* stream);

// The same on HOST arrays (copied to the device and back, synchronous), for tests and the
// bindings. Null optional pointers stay null.
void batch_norm_forward_train_cuda_from_host(float* y, float* mean, float* invstd,
                                             float* running_mean, float* running_var,
                                             const float* x, const float* gamma, const float* beta,
                                             int64_t N, int64_t C, int64_t HW, double momentum,
                                             double eps, int config);
void batch_norm_backward_cuda_from_host(float* dx, float* dgamma, float* dbeta, const float* dy,
                                        const float* x, const float* mean, const float* invstd,
                                        const float* gamma, int64_t N, int64_t C, int64_t HW,
                                        bool training, int config);
void batch_norm_forward_eval_cuda_from_host(float* y, const float* x, const float* gamma,
                                            const float* beta, const float* mean, const float* var,
                                            int64_t N, int64_t C, int64_t HW, double eps,
                                            int config);

}  // namespace lf
