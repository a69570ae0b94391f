// Emulated twin of ops/batch_norm_cuda.cu: the same kernel source compiled by the host compiler.
#include "emu/batch_norm_cuda_emu.h"

#include "emu/cuda_emu.h"  // must come before the kernel: it defines the CUDA keywords

#include "ops/batch_norm_cuda.cuh"

namespace lf {

void batch_norm_forward_train_cuda_emulated(float* y, float* mean, float* invstd,
                                            float* running_mean, float* running_var, const float* x,
                                            const float* gamma, const float* beta, int64_t N,
                                            int64_t C, int64_t HW, double momentum, double eps,
                                            int config, const emu::Schedule& schedule) {
  emu::batch_norm_cuda_check(N, C, HW, /*training=*/true, config);
  emu::batch_norm_cuda_check_scalars(momentum, eps);
  if (C == 0) return;  // an empty grid is an invalid launch
  emu::batch_norm_cuda_dispatch(config, [&](auto threads) {
    constexpr int T = decltype(threads)::value;
    emu::launch(schedule, emu::dim3(static_cast<unsigned>(C)), emu::dim3(T),
                &emu::batch_norm_forward_train_kernel<T>, y, mean, invstd, running_mean,
                running_var, x, gamma, beta, N, C, HW, momentum, eps);
  });
}

void batch_norm_backward_cuda_emulated(float* dx, float* dgamma, float* dbeta, const float* dy,
                                       const float* x, const float* mean, const float* invstd,
                                       const float* gamma, int64_t N, int64_t C, int64_t HW,
                                       bool training, int config, const emu::Schedule& schedule) {
  emu::batch_norm_cuda_check(N, C, HW, training, config);
  if (C == 0) return;
  emu::batch_norm_cuda_dispatch(config, [&](auto threads) {
    constexpr int T = decltype(threads)::value;
    emu::launch(schedule, emu::dim3(static_cast<unsigned>(C)), emu::dim3(T),
                &emu::batch_norm_backward_kernel<T>, dx, dgamma, dbeta, dy, x, mean, invstd, gamma,
                N, C, HW, training);
  });
}

void batch_norm_forward_eval_cuda_emulated(float* y, const float* x, const float* gamma,
                                           const float* beta, const float* mean, const float* var,
                                           int64_t N, int64_t C, int64_t HW, double eps, int config,
                                           const emu::Schedule& schedule) {
  emu::batch_norm_cuda_check(N, C, HW, /*training=*/false, config);
  emu::batch_norm_cuda_check_scalars(0.0, eps);
  if (C == 0) return;
  emu::batch_norm_cuda_dispatch(config, [&](auto threads) {
    constexpr int T = decltype(threads)::value;
    emu::launch(schedule, emu::dim3(static_cast<unsigned>(C)), emu::dim3(T),
                &emu::batch_norm_forward_eval_kernel<T>, y, x, gamma, beta, mean, var, N, C, HW,
                eps);
  });
}

int batch_norm_cuda_emulated_num_configs() { return emu::kBatchNormCudaNumConfigs; }

}  // namespace lf
