// Emulated twin of ops/word2vec_cuda.cu: the same kernel source compiled by the host compiler.
#include "emu/word2vec_cuda_emu.h"

#include "emu/cuda_emu.h"  // must come before the kernel: it defines the CUDA keywords

#include <cmath>
#include <vector>

#include "core/check.h"
#include "ops/word2vec_cuda.cuh"

namespace lf {

void noise_sample_cuda_emulated(int32_t* out, const float* prob, const int32_t* alias, int64_t V,
                                int64_t n, uint64_t seed, uint64_t counter,
                                const emu::Schedule& schedule) {
  LF_CHECK(V >= 1 && V < (int64_t{1} << 31), "V must be in [1, 2**31)");
  if (n <= 0) return;
  const int T = emu::kW2vCudaSampleThreads;
  const int64_t blocks = (n + T - 1) / T;
  emu::launch(schedule, emu::dim3(static_cast<unsigned>(blocks)), emu::dim3(T),
              &emu::w2v_noise_sample_kernel, out, prob, alias, V, n, seed, counter,
              std::log(static_cast<double>(V) + 1.0));
}

W2vResult word2vec_train_cuda_emulated(float* syn0, float* syn1, float* bias, const int32_t* ids,
                                       int64_t n, const int64_t* sent_ends, int64_t S,
                                       const float* keep_prob, const float* noise_prob,
                                       const int32_t* noise_alias, const float* noise_logq,
                                       int64_t V, int64_t D, const W2vParams& p, int64_t blocks,
                                       const emu::Schedule& schedule) {
  word2vec_check_args(ids, n, sent_ends, S, V, D, p);
  LF_CHECK(!p.batched, "word2vec_train_cuda: the batched variant is not implemented on CUDA");
  LF_CHECK(D <= emu::kW2vCudaMaxD, "word2vec_train_cuda: D must be <= ", emu::kW2vCudaMaxD);
  LF_CHECK(p.loss != W2vLoss::nce || noise_logq, "noise_logq is required for loss 'nce'");
  W2vResult res;
  res.words = n;
  if (S == 0) return res;
  const int64_t B = word2vec_cuda_blocks(blocks, S);
  std::vector<double> loss(static_cast<size_t>(B), 0.0);
  std::vector<int64_t> pairs(static_cast<size_t>(B), 0);
  emu::W2vCudaArgs a{syn0,
                     syn1,
                     bias,
                     ids,
                     n,
                     sent_ends,
                     S,
                     keep_prob,
                     noise_prob,
                     noise_alias,
                     noise_logq,
                     V,
                     D,
                     p.sg,
                     p.loss == W2vLoss::nce,
                     p.loss != W2vLoss::nce || p.remove_accidental_hits,
                     p.negative,
                     p.window,
                     p.alpha,
                     p.alpha_end,
                     p.seed,
                     p.counter,
                     loss.data(),
                     pairs.data()};
  emu::launch(schedule, emu::dim3(static_cast<unsigned>(B)), emu::dim3(emu::kW2vCudaThreads),
              &emu::w2v_train_kernel, a);
  for (int64_t b = 0; b < B; ++b) {
    res.loss_sum += loss[static_cast<size_t>(b)];
    res.pairs += pairs[static_cast<size_t>(b)];
  }
  return res;
}

}  // namespace lf
