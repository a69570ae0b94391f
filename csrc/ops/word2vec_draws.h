// The random draws of the word2vec kernels (scheme in ops/word2vec.h), as pure functions shared
// by the CPU kernels, the CUDA kernels (ops/word2vec_cuda.cuh) and their CPU emulation, so every
// implementation draws the same noise words and the same subsampling / window decisions.
#pragma once

#include <math.h>

#include <cstdint>

#include "core/rng.h"

namespace lf {

constexpr uint64_t kW2vNoiseStream = 0x77327600000001ull;  // "w2v" + 1
constexpr uint64_t kW2vTokenStream = 0x77327600000002ull;  // "w2v" + 2

// The two 32-bit words of noise draw g: Philox block g / 2, words 2 (g % 2) and 2 (g % 2) + 1.
LF_HOST_DEVICE inline void w2v_noise_words(uint64_t seed, uint64_t g, uint32_t* w0, uint32_t* w1) {
  uint32_t w[4];
  philox_block(w, seed, kW2vNoiseStream, g >> 1);
  const unsigned l = static_cast<unsigned>(g & 1u) * 2u;
  *w0 = w[l];
  *w1 = w[l + 1];
}

// floor(w * V / 2^32): a column in [0, V) (V < 2^32).
LF_HOST_DEVICE inline int64_t w2v_column(uint32_t w, int64_t V) {
  return static_cast<int64_t>((static_cast<uint64_t>(w) * static_cast<uint64_t>(V)) >> 32);
}

LF_HOST_DEVICE inline int32_t w2v_alias_pick(const float* prob, const int32_t* alias, int64_t V,
                                             uint32_t w0, uint32_t w1) {
  const int64_t col = w2v_column(w0, V);
  return u32_to_uniform01(w1) < prob[col] ? static_cast<int32_t>(col) : alias[col];
}

// TensorFlow's log-uniform sampler: k = floor(exp(u log(V + 1))) - 1, u = w / 2^32 (double),
// clamped to [0, V). log_v1 = log(V + 1).
LF_HOST_DEVICE inline int32_t w2v_log_uniform_pick(int64_t V, double log_v1, uint32_t w0) {
  const double u = static_cast<double>(w0) * (1.0 / 4294967296.0);
  double k = floor(exp(u * log_v1)) - 1.0;
  if (k < 0.0) k = 0.0;
  if (k > static_cast<double>(V - 1)) k = static_cast<double>(V - 1);
  return static_cast<int32_t>(k);
}

// Noise draw g: alias table when prob != nullptr, else log-uniform.
LF_HOST_DEVICE inline int32_t w2v_noise(uint64_t seed, uint64_t g, const float* prob,
                                        const int32_t* alias, int64_t V, double log_v1) {
  uint32_t w0, w1;
  w2v_noise_words(seed, g, &w0, &w1);
  return prob ? w2v_alias_pick(prob, alias, V, w0, w1) : w2v_log_uniform_pick(V, log_v1, w0);
}

// The subsampling uniform and window reduction of the token at t = counter + position.
LF_HOST_DEVICE inline void w2v_token_draws(uint64_t seed, uint64_t t, int window, float* u,
                                           int* b) {
  uint32_t w[4];
  philox_block(w, seed, kW2vTokenStream, t);
  *u = u32_to_uniform01(w[0]);
  *b = static_cast<int>((static_cast<uint64_t>(w[1]) * static_cast<uint64_t>(window)) >> 32);
}

}  // namespace lf
