// CUDA word2vec launchers and their host-array entries (contracts in ops/word2vec.h). The kernels
// live in ops/word2vec_cuda.cuh, shared with the CPU emulator (emu/word2vec_cuda_emu.cpp).
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "core/check.h"
#include "core/cuda_utils.cuh"
#include "ops/word2vec.h"
#include "ops/word2vec_cuda.cuh"

namespace lf {

namespace {

using cuda::check_launch;

// An owning device array of T (any trivially copyable element type).
template <class T>
class DeviceArray {
 public:
  DeviceArray() = default;
  explicit DeviceArray(int64_t count) {
    if (count > 0) {
      cuda::cuda_check(cudaMalloc(reinterpret_cast<void**>(&ptr_), count * sizeof(T)),
                       "cudaMalloc");
    }
  }
  DeviceArray(const T* host, int64_t count) : DeviceArray(host ? count : 0) {
    if (host && count > 0) {
      cuda::cuda_check(cudaMemcpy(ptr_, host, count * sizeof(T), cudaMemcpyHostToDevice),
                       "cudaMemcpy (host to device)");
    }
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  ~DeviceArray() {
    if (ptr_) cudaFree(ptr_);
  }
  T* get() const { return ptr_; }
  void download(T* host, int64_t count) const {
    if (host && ptr_ && count > 0) {
      cuda::cuda_check(cudaMemcpy(host, ptr_, count * sizeof(T), cudaMemcpyDeviceToHost),
                       "cudaMemcpy (device to host)");
    }
  }

 private:
  T* ptr_ = nullptr;
};

void check_cuda_params(int64_t D, const W2vParams& p) {
  LF_CHECK(!p.batched, "word2vec_train_cuda: the batched variant is not implemented on CUDA");
  LF_CHECK(D <= gpu::kW2vCudaMaxD, "word2vec_train_cuda: D must be <= ", gpu::kW2vCudaMaxD,
           ", got ", D);
}

}  // namespace

void alias_sample_cuda(int32_t* out, const float* prob, const int32_t* alias, int64_t V, int64_t n,
                       uint64_t seed, uint64_t counter, void* stream) {
  LF_CHECK(V >= 1 && V < (int64_t{1} << 31), "alias_sample_cuda: V must be in [1, 2**31)");
  if (n <= 0) return;
  const int T = gpu::kW2vCudaSampleThreads;
  const int64_t blocks = (n + T - 1) / T;
  LF_CHECK(blocks < (int64_t{1} << 31), "alias_sample_cuda: n is too large");
  const double log_v1 = std::log(static_cast<double>(V) + 1.0);
  gpu::w2v_noise_sample_kernel<<<static_cast<unsigned>(blocks), T, 0,
                                 static_cast<cudaStream_t>(stream)>>>(out, prob, alias, V, n, seed,
                                                                      counter, log_v1);
  check_launch("alias_sample_cuda");
}

void word2vec_train_cuda(float* syn0, float* syn1, float* bias, const int32_t* ids, int64_t n,
                         const int64_t* sent_ends, int64_t S, const float* keep_prob,
                         const float* noise_prob, const int32_t* noise_alias,
                         const float* noise_logq, int64_t V, int64_t D, const W2vParams& p,
                         int64_t blocks, double* loss_per_block, int64_t* pairs_per_block,
                         void* stream) {
  check_cuda_params(D, p);
  LF_CHECK(p.loss != W2vLoss::nce || noise_logq, "noise_logq is required for loss 'nce'");
  if (S == 0) return;
  const int64_t B = word2vec_cuda_blocks(blocks, S);
  LF_CHECK(B < (int64_t{1} << 31), "word2vec_train_cuda: too many blocks");
  gpu::W2vCudaArgs a{syn0,
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
                     loss_per_block,
                     pairs_per_block};
  gpu::w2v_train_kernel<<<static_cast<unsigned>(B), gpu::kW2vCudaThreads, 0,
                          static_cast<cudaStream_t>(stream)>>>(a);
  check_launch("word2vec_train_cuda");
}

void alias_sample_cuda_from_host(int32_t* out, const float* prob, const int32_t* alias, int64_t V,
                                 int64_t n, uint64_t seed, uint64_t counter) {
  if (n <= 0) return;
  DeviceArray<float> dp(prob, V);
  DeviceArray<int32_t> da(alias, V), dout(n);
  alias_sample_cuda(dout.get(), dp.get(), da.get(), V, n, seed, counter, nullptr);
  cuda::cuda_check(cudaStreamSynchronize(nullptr), "alias_sample kernel execution");
  dout.download(out, n);
}

W2vResult word2vec_train_cuda_from_host(float* syn0, float* syn1, float* bias, const int32_t* ids,
                                        int64_t n, const int64_t* sent_ends, int64_t S,
                                        const float* keep_prob, const float* noise_prob,
                                        const int32_t* noise_alias, const float* noise_logq,
                                        int64_t V, int64_t D, const W2vParams& p, int64_t blocks) {
  word2vec_check_args(ids, n, sent_ends, S, V, D, p);
  check_cuda_params(D, p);
  W2vResult res;
  res.words = n;
  if (S == 0) return res;
  const int64_t B = word2vec_cuda_blocks(blocks, S);
  DeviceArray<float> d0(syn0, V * D), d1(syn1, V * D), db(bias, V), dk(keep_prob, V),
      dp(noise_prob, V), dq(noise_logq, V);
  DeviceArray<int32_t> di(ids, n), da(noise_alias, V);
  DeviceArray<int64_t> de(sent_ends, S), dpairs(B);
  DeviceArray<double> dloss(B);
  word2vec_train_cuda(d0.get(), d1.get(), db.get(), di.get(), n, de.get(), S, dk.get(), dp.get(),
                      da.get(), dq.get(), V, D, p, B, dloss.get(), dpairs.get(), nullptr);
  cuda::cuda_check(cudaStreamSynchronize(nullptr), "word2vec kernel execution");
  d0.download(syn0, V * D);
  d1.download(syn1, V * D);
  db.download(bias, V);
  std::vector<double> loss(static_cast<size_t>(B));
  std::vector<int64_t> pairs(static_cast<size_t>(B));
  dloss.download(loss.data(), B);
  dpairs.download(pairs.data(), B);
  for (int64_t b = 0; b < B; ++b) {
    res.loss_sum += loss[static_cast<size_t>(b)];
    res.pairs += pairs[static_cast<size_t>(b)];
  }
  return res;
}

}  // namespace lf
