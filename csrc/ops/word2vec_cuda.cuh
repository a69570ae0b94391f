// Device side of the word2vec CUDA sibling (contracts in ops/word2vec.h): the noise sampler (alias
// table or log-uniform) and the classic training step (skip-gram / CBOW, negative sampling or
// NCE), with the draws of ops/word2vec_draws.h, so they are the CPU kernels' draws.
//
// This source is compiled twice: by nvcc (ops/word2vec_cuda.cu, symbols in lf::gpu) and by the
// host compiler against emu/cuda_emu.h (emu/word2vec_cuda_emu.cpp, symbols in lf::emu), so it uses
// only the subset listed in cuda_emu.h (plus the <math.h> functions log1pf, fabsf, exp, floor).
//
// Sampler: one thread per draw.
// Training: one block per shard of sentences (the CPU driver's split: shard b holds the sentences
// whose end lies in (b n / B, (b + 1) n / B]); blocks run without locks between them (Hogwild, as
// the CPU threads). Inside a block the threads share the D dimension: thread t owns the elements
// d = t, t + T, ... of every vector, so the element-wise updates need no barrier, and the dot
// products are block sums through shared memory in a fixed tree. Every thread computes the same
// control decisions (subsampling, window, noise words and the logits read back from the block
// sum), so the whole block follows one path through the barriers. Tokens are not compacted: a
// token's subsampling decision is recomputed from its Philox draw wherever it is needed.
#pragma once

#include <math.h>

#include <cstdint>

#include "core/cuda_subset.h"  // LF_KERNEL_NS, LF_SHARED
#include "ops/word2vec_draws.h"

namespace lf::LF_KERNEL_NS {

constexpr int kW2vCudaThreads = 128;  // threads per training block (a power of two)
constexpr int kW2vCudaMaxD = 1024;    // vector size limit of the training kernel
constexpr int kW2vCudaSampleThreads = 256;

__global__ void w2v_noise_sample_kernel(int32_t* __restrict__ out, const float* __restrict__ prob,
                                        const int32_t* __restrict__ alias, int64_t V, int64_t n,
                                        uint64_t seed, uint64_t counter, double log_v1) {
  const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j < n) out[j] = w2v_noise(seed, counter + static_cast<uint64_t>(j), prob, alias, V, log_v1);
}

// First index s in [0, S) with sent_ends[s] > target (S when none).
__device__ __forceinline__ int64_t w2v_upper_bound(const int64_t* sent_ends, int64_t S,
                                                   int64_t target) {
  int64_t lo = 0, hi = S;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (sent_ends[mid] > target) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

__device__ __forceinline__ bool w2v_kept(uint64_t seed, uint64_t counter, int64_t i, int window,
                                         const int32_t* ids, const float* keep_prob, int* red) {
  float u;
  w2v_token_draws(seed, counter + static_cast<uint64_t>(i), window, &u, red);
  return !keep_prob || u < keep_prob[ids[i]];
}

// Sum over the block of the per-thread partial sums, in a fixed tree; ends with a barrier, after
// which red[0] holds the sum.
__device__ __forceinline__ void w2v_block_sum(float* red, int t) {
  __syncthreads();
  for (int s = kW2vCudaThreads / 2; s > 0; s >>= 1) {
    if (t < s) red[t] += red[t + s];
    __syncthreads();
  }
}

struct W2vCudaArgs {
  float* syn0;
  float* syn1;
  float* bias;
  const int32_t* ids;
  int64_t n;
  const int64_t* sent_ends;
  int64_t S;
  const float* keep_prob;
  const float* noise_prob;
  const int32_t* noise_alias;
  const float* noise_logq;
  int64_t V, D;
  int sg, nce, skip_hits, negative, window;
  float alpha, alpha_end;
  uint64_t seed, counter;
  double* loss_out;    // per block
  int64_t* pairs_out;  // per block
};

// One step of input vector v (thread-owned elements) against target tw; e accumulates v's
// gradient. Returns the loss (the same value in every thread).
__device__ __forceinline__ float w2v_cuda_step(const W2vCudaArgs& a, const float* v, float* e,
                                               float* red, int32_t tw, bool label, float lr,
                                               float logk, int t) {
  const int64_t D = a.D;
  float* u = a.syn1 + static_cast<int64_t>(tw) * D;
  float part = 0.0f;
  for (int64_t d = t; d < D; d += kW2vCudaThreads) part += v[d] * u[d];
  red[t] = part;
  w2v_block_sum(red, t);
  float s = red[0];
  if (a.bias) s += a.bias[tw];
  if (a.nce) s -= logk + a.noise_logq[tw];
  __syncthreads();  // everyone has read red[0] and bias[tw] before they are overwritten
  const float ex = expf(-fabsf(s));
  const float inv = 1.0f / (1.0f + ex);
  const float f = s >= 0.0f ? inv : ex * inv;
  const float loss = (label ? fmaxf(-s, 0.0f) : fmaxf(s, 0.0f)) + log1pf(ex);
  const float g = ((label ? 1.0f : 0.0f) - f) * lr;
  for (int64_t d = t; d < D; d += kW2vCudaThreads) {
    e[d] += g * u[d];
    u[d] += g * v[d];
  }
  if (a.bias && t == 0) a.bias[tw] += g;
  return loss;
}

__global__ void w2v_train_kernel(W2vCudaArgs a) {
  LF_SHARED(float, red, [kW2vCudaThreads]);
  LF_SHARED(float, e, [kW2vCudaMaxD]);
  LF_SHARED(float, h, [kW2vCudaMaxD]);
  const int t = static_cast<int>(threadIdx.x);
  const int64_t D = a.D, B = gridDim.x, b = blockIdx.x;
  const int W = a.window, k = a.negative;
  const float logk = logf(static_cast<float>(k));
  const uint64_t M = static_cast<uint64_t>(k) * (a.sg ? 2u * static_cast<uint64_t>(W) : 1u);
  const double log_v1 = log(static_cast<double>(a.V) + 1.0);
  const int64_t s_begin = b == 0 ? 0 : w2v_upper_bound(a.sent_ends, a.S, a.n * b / B);
  const int64_t s_end = b == B - 1 ? a.S : w2v_upper_bound(a.sent_ends, a.S, a.n * (b + 1) / B);
  double loss_sum = 0.0;
  int64_t pairs = 0;
  for (int64_t si = s_begin; si < s_end; ++si) {
    const int64_t begin = si == 0 ? 0 : a.sent_ends[si - 1], end = a.sent_ends[si];
    for (int64_t i = begin; i < end; ++i) {
      int r;
      if (!w2v_kept(a.seed, a.counter, i, W, a.ids, a.keep_prob, &r)) continue;
      const int win = W - r;
      const int32_t center = a.ids[i];
      const uint64_t tc = a.counter + static_cast<uint64_t>(i);
      const float lr =
          static_cast<float>(a.alpha + (static_cast<double>(a.alpha_end) - a.alpha) *
                                           static_cast<double>(i) / static_cast<double>(a.n));
      // The leftmost position of the window and the number of kept contexts on the left.
      int64_t jl = i;
      int nleft = 0;
      for (int64_t j = i - 1; j >= begin && nleft < win; --j) {
        int rr;
        if (w2v_kept(a.seed, a.counter, j, W, a.ids, a.keep_prob, &rr)) {
          ++nleft;
          jl = j;
        }
      }
      int64_t jr = i;  // the rightmost kept context
      int nright = 0;
      for (int64_t j = i + 1; j < end && nright < win; ++j) {
        int rr;
        if (w2v_kept(a.seed, a.counter, j, W, a.ids, a.keep_prob, &rr)) {
          ++nright;
          jr = j;
        }
      }
      if (nleft + nright == 0) continue;
      if (!a.sg) {  // CBOW
        for (int64_t d = t; d < D; d += kW2vCudaThreads) h[d] = 0.0f;
        for (int64_t j = jl; j <= jr; ++j) {
          int rr;
          if (j == i || !w2v_kept(a.seed, a.counter, j, W, a.ids, a.keep_prob, &rr)) continue;
          const float* row = a.syn0 + static_cast<int64_t>(a.ids[j]) * D;
          for (int64_t d = t; d < D; d += kW2vCudaThreads) h[d] += row[d];
        }
        const float inv = 1.0f / static_cast<float>(nleft + nright);
        for (int64_t d = t; d < D; d += kW2vCudaThreads) {
          h[d] *= inv;
          e[d] = 0.0f;
        }
        float loss = w2v_cuda_step(a, h, e, red, center, true, lr, logk, t);
        for (int n = 0; n < k; ++n) {
          const int32_t w = w2v_noise(a.seed, tc * M + static_cast<uint64_t>(n), a.noise_prob,
                                      a.noise_alias, a.V, log_v1);
          if (w == center && a.skip_hits) continue;
          loss += w2v_cuda_step(a, h, e, red, w, false, lr, logk, t);
        }
        for (int64_t j = jl; j <= jr; ++j) {
          int rr;
          if (j == i || !w2v_kept(a.seed, a.counter, j, W, a.ids, a.keep_prob, &rr)) continue;
          float* row = a.syn0 + static_cast<int64_t>(a.ids[j]) * D;
          for (int64_t d = t; d < D; d += kW2vCudaThreads) row[d] += e[d];
        }
        loss_sum += loss;
        pairs += 1;
      } else {  // skip-gram, classic per-pair updates
        int off = -nleft;
        for (int64_t j = jl; j <= jr; ++j) {
          int rr;
          if (j == i) {
            off = 1;
            continue;
          }
          if (!w2v_kept(a.seed, a.counter, j, W, a.ids, a.keep_prob, &rr)) continue;
          const uint64_t slot = static_cast<uint64_t>(off < 0 ? off + W : off + W - 1);
          ++off;
          float* v = a.syn0 + static_cast<int64_t>(a.ids[j]) * D;
          for (int64_t d = t; d < D; d += kW2vCudaThreads) e[d] = 0.0f;
          float loss = w2v_cuda_step(a, v, e, red, center, true, lr, logk, t);
          const uint64_t g0 = tc * M + slot * static_cast<uint64_t>(k);
          for (int n = 0; n < k; ++n) {
            const int32_t w = w2v_noise(a.seed, g0 + static_cast<uint64_t>(n), a.noise_prob,
                                        a.noise_alias, a.V, log_v1);
            if (w == center && a.skip_hits) continue;
            loss += w2v_cuda_step(a, v, e, red, w, false, lr, logk, t);
          }
          for (int64_t d = t; d < D; d += kW2vCudaThreads) v[d] += e[d];
          loss_sum += loss;
          pairs += 1;
        }
      }
    }
  }
  if (t == 0) {
    a.loss_out[b] = loss_sum;
    a.pairs_out[b] = pairs;
  }
}

}  // namespace lf::LF_KERNEL_NS
