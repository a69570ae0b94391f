// word2vec kernels (CPU): streamed vocabulary counting and encoding, the alias and log-uniform
// noise samplers, and the skip-gram / CBOW training step (negative sampling and true NCE).
//
// Tokens: maximal runs of bytes other than ' ', '\t', '\r', '\n', '\v', '\f'. '\n' ends a
// sentence. Input arrives in chunks: a token or line cut by a chunk boundary continues in the next
// chunk, and `final` flushes the last one. A NUL byte throws std::invalid_argument ("binary
// file?"), and so does a token that is not valid UTF-8 (checked once per distinct token, when the
// counter first sees it), naming the byte offset in the stream.
//
// Random numbers (Philox 4x32-10 of core/rng.h; every draw a pure function of its indices):
//   * Noise draw number g (alias or log-uniform) uses Philox block g / 2 of stream
//     kW2vNoiseStream, words 2 (g % 2) and 2 (g % 2) + 1: the first picks the column
//     (floor(w * V / 2^32)), the second the coin of the alias table (u32_to_uniform01(w) < prob);
//     the log-uniform sampler uses the first word only: k = floor(exp(u log(V + 1))) - 1 with
//     u = w / 2^32 in double, clamped to [0, V). alias_sample(..., counter) returns draws
//     counter, counter + 1, ...
//   * Training, for the token at position i of the job (0-based in ids), with t = counter + i:
//     Philox block t of stream kW2vTokenStream: word 0 -> u = u32_to_uniform01: the token is
//     dropped by subsampling when u >= keep_prob[id] (so keep_prob 1 always keeps it); word 1 ->
//     the window reduction b = floor(w * window / 2^32) in [0, window). Negatives of the center
//     at position i are noise draws g = t * M + m with M = negative * (sg ? 2 window : 1): for
//     skip-gram m = slot * negative + n, slot in [0, 2 window) the context's offset d in
//     [-window, -1] U [1, window] mapped to d + window (d < 0) or d + window - 1 (d > 0);
//     for CBOW m = n; for the batched variant (negatives shared across the window) m = n too.
//   The Python side advances counter by words_processed between calls, so calls never reuse a draw.
//
// Training (word2vec_train_*): syn0 (V, D) input vectors, syn1 (V, D) output vectors, bias (V,)
// or nullptr output biases, all row-major float32, updated in place (accumulate). Per job of n
// tokens ids[0:n] with sentence ends sent_ends[0:S] (exclusive, increasing, last == n):
//   learning rate of the center at position i: alpha + (alpha_end - alpha) * i / n;
//   subsampling first, then the dynamic window (window - b) over the kept tokens of the sentence;
//   skip-gram: for each center c and each context x in its window (in order of position), the
//     input vector v = syn0[x] is trained against the target c (label 1) and negative noise draws
//     (label 0), as word2vec.c and gensim do (the context's vector predicts the center);
//   CBOW: v = mean of syn0 over the window's contexts (gensim's cbow_mean=1), trained against the
//     center; the input gradient is added in full to each context vector (word2vec.c, gensim);
//   logit s = u_t . v (+ bias[t] when bias) (- log(negative * q(t)) = - log(negative) -
//     noise_logq[t] when nce); g = (label - sigmoid(s)) * lr; neu1e += g u_t; u_t += g v;
//     bias[t] += g; after the targets v's rows += neu1e. Targets are processed one after another
//     (a repeated noise word sees its own earlier update), as word2vec.c does.
//   Noise draws equal to the target are skipped for loss "negative" and for "nce" with
//     remove_accidental_hits (no loss, no gradient); with remove_accidental_hits=false NCE keeps
//     them.
//   Batched (HogBatch, pWord2Vec): one set of `negative` draws per center shared by all its
//     contexts; logits S = X T^T for the contexts X (m, D) and targets T (1 + negative, D), then
//     dX = G T and dT = G^T X applied after the whole window (small GEMMs). Skip-gram only:
//     CBOW already trains one (mean of the window, targets) unit per center, so batched has no
//     effect on it.
// Returns loss_sum (sum over trained pairs of the sigmoid cross-entropies, double), the tokens of
// the job (words_processed, before subsampling) and pairs_trained (skip-gram: (center, context)
// pairs; CBOW: centers with at least one context).
//
// Threads: the optimized kernel splits the sentences into contiguous shards of about equal token
// counts (8 per thread, taken by the threads as they become free; one with one thread), trained
// at the same time without locks (Hogwild, as word2vec.c): with num_threads = 1 a call is
// deterministic (same arguments, same bits); with more threads the interleaving of the
// unsynchronized updates (and so the bits) varies from run to run. The naive
// reference is serial, with double dot products, sigmoid and neu1e.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/check.h"
#include "ops/word2vec_draws.h"  // kW2vNoiseStream, kW2vTokenStream and the draw functions

namespace lf {

constexpr int kW2vMaxSentence = 10000;  // gensim's MAX_WORDS_IN_BATCH
constexpr int kW2vMaxNegative = 1 << 16;
constexpr int kW2vMaxWindow = 1 << 12;

// An open-addressing hash table of byte strings -> int64 values (insertion order kept).
class W2vTable {
 public:
  W2vTable();
  // The index of `s` (inserted with value 0 when absent; *inserted tells which).
  int64_t find_or_insert(std::string_view s, bool* inserted);
  int64_t find(std::string_view s) const;  // -1 when absent
  int64_t size() const { return static_cast<int64_t>(offsets_.size()); }
  std::string_view key(int64_t i) const {
    return {arena_.data() + offsets_[i], static_cast<size_t>(lengths_[i])};
  }
  std::vector<int64_t>& values() { return values_; }
  const std::vector<int64_t>& values() const { return values_; }

 private:
  void grow();
  std::vector<int64_t> slots_;     // -1 empty, else index; size a power of two
  std::vector<uint64_t> hashes_;   // per index
  std::vector<char> arena_;        // key bytes
  std::vector<int64_t> offsets_;   // per index
  std::vector<uint32_t> lengths_;  // per index
  std::vector<int64_t> values_;    // per index
};

// The byte scanner shared by the counter and the encoder: keeps the partial token of the last
// chunk and the stream offset.
class W2vScanner {
 public:
  // Calls on_token(std::string_view, int64_t stream_offset) per token and on_eol() per '\n'
  // (and once at the end when final and the last line did not end with '\n').
  template <class OnToken, class OnEol>
  void feed(const char* p, int64_t n, bool final, OnToken&& on_token, OnEol&& on_eol);
  int64_t offset() const { return offset_; }

 private:
  std::string pending_;  // bytes of a token cut by the previous chunk boundary
  int64_t pending_start_ = 0;
  int64_t offset_ = 0;      // bytes consumed so far
  bool line_open_ = false;  // a byte other than '\n' was seen since the last '\n'
};

class TokenCounter {
 public:
  void add(const char* p, int64_t n, bool final);
  int64_t n_tokens() const { return n_tokens_; }
  int64_t n_sentences() const { return n_sentences_; }
  int64_t n_distinct() const { return table_.size(); }
  // Words with count >= min_count, count descending, ties by bytes ascending.
  void items(int64_t min_count, std::vector<std::string_view>* words,
             std::vector<int64_t>* counts) const;

 private:
  W2vTable table_;
  W2vScanner scanner_;
  int64_t n_tokens_ = 0, n_sentences_ = 0;
  bool line_has_token_ = false;
};

class TokenEncoder {
 public:
  explicit TokenEncoder(const std::vector<std::string>& words);  // duplicates -> invalid_argument
  // Appends the ids of the complete sentences (split every kW2vMaxSentence in-vocabulary
  // tokens) and their exclusive ends (relative to the start of *ids at entry).
  void encode(const char* p, int64_t n, bool final, std::vector<int32_t>* ids,
              std::vector<int64_t>* sent_ends);
  int64_t size() const { return table_.size(); }
  int64_t lookup(std::string_view w) const;

 private:
  W2vTable table_;
  W2vScanner scanner_;
  std::vector<int32_t> partial_;  // in-vocabulary ids of the open sentence (< kW2vMaxSentence)
};

// Walker/Vose alias table of weights[0:V] (>= 0, finite, sum > 0; else invalid_argument):
// column j is drawn uniformly, kept with probability prob[j], else replaced by alias[j].
void alias_build_cpu(float* prob, int32_t* alias, const double* weights, int64_t V);

// out[j] = noise draw counter + j of the alias table (scheme above).
void alias_sample_cpu(int32_t* out, const float* prob, const int32_t* alias, int64_t V, int64_t n,
                      uint64_t seed, uint64_t counter, int num_threads);
void alias_sample_naive(int32_t* out, const float* prob, const int32_t* alias, int64_t V, int64_t n,
                        uint64_t seed, uint64_t counter);
void log_uniform_sample_cpu(int32_t* out, int64_t V, int64_t n, uint64_t seed, uint64_t counter,
                            int num_threads);

enum class W2vLoss : int { negative = 0, nce = 1 };

struct W2vParams {
  bool sg = true;
  W2vLoss loss = W2vLoss::negative;
  int negative = 5;
  int window = 5;
  float alpha = 0.025f, alpha_end = 0.025f;
  uint64_t seed = 0, counter = 0;
  bool remove_accidental_hits = true;
  bool batched = false;
};

struct W2vResult {
  double loss_sum = 0.0;
  int64_t words = 0;
  int64_t pairs = 0;
};

// Checks the sizes and values (ids in [0, V), sent_ends increasing and ending at n, window and
// negative >= 1, noise table or log-uniform) and throws std::invalid_argument naming the argument.
inline void word2vec_check_args(const int32_t* ids, int64_t n, const int64_t* sent_ends, int64_t S,
                                int64_t V, int64_t D, const W2vParams& p) {
  LF_CHECK(V >= 1 && V < (int64_t{1} << 31), "syn0 must have 1 to 2**31 - 1 rows, got ", V);
  LF_CHECK(D >= 1, "syn0 must have at least one column, got ", D);
  LF_CHECK(p.window >= 1 && p.window <= kW2vMaxWindow, "window must be in [1, ", kW2vMaxWindow,
           "], got ", p.window);
  LF_CHECK(p.negative >= 1 && p.negative <= kW2vMaxNegative, "negative must be in [1, ",
           kW2vMaxNegative, "], got ", p.negative);
  LF_CHECK(std::isfinite(p.alpha) && std::isfinite(p.alpha_end),
           "alpha and alpha_end must be finite");
  for (int64_t i = 0; i < n; ++i) {
    if (ids[i] < 0 || ids[i] >= V) {
      LF_CHECK(false, "ids must lie in [0, ", V, "), got ", ids[i], " at position ", i);
    }
  }
  int64_t prev = 0;
  for (int64_t s = 0; s < S; ++s) {
    LF_CHECK(sent_ends[s] > prev || (s == 0 && sent_ends[s] >= 0 && n == 0),
             "sent_ends must be strictly increasing and positive, got ", sent_ends[s], " at index ",
             s);
    prev = sent_ends[s];
  }
  LF_CHECK((S == 0 && n == 0) || (S > 0 && sent_ends[S - 1] == n),
           "sent_ends must end at len(ids) = ", n, ", got ",
           S == 0 ? int64_t{-1} : sent_ends[S - 1]);
}

// noise_prob/noise_alias == nullptr: log-uniform noise. noise_logq may be nullptr for "negative".
W2vResult word2vec_train_cpu(float* syn0, float* syn1, float* bias, const int32_t* ids, int64_t n,
                             const int64_t* sent_ends, int64_t S, const float* keep_prob,
                             const float* noise_prob, const int32_t* noise_alias,
                             const float* noise_logq, int64_t V, int64_t D, const W2vParams& p,
                             int num_threads);
W2vResult word2vec_train_naive(float* syn0, float* syn1, float* bias, const int32_t* ids, int64_t n,
                               const int64_t* sent_ends, int64_t S, const float* keep_prob,
                               const float* noise_prob, const int32_t* noise_alias,
                               const float* noise_logq, int64_t V, int64_t D, const W2vParams& p);

// ---- CUDA sibling (ops/word2vec_cuda.cu, kernels in ops/word2vec_cuda.cuh) ----
// Same contracts, device pointers and a stream (cudaStream_t as void*). The training kernel runs
// `blocks` Hogwild shards (clamped to [1, S]) and writes each shard's loss and pair count to
// loss_per_block[0:blocks] / pairs_per_block[0:blocks] (device arrays); it has no batched variant
// (p.batched throws) and needs D <= 1024.
void alias_sample_cuda(int32_t* out, const float* prob, const int32_t* alias, int64_t V, int64_t n,
                       uint64_t seed, uint64_t counter, void* stream);
void word2vec_train_cuda(float* syn0, float* syn1, float* bias, const int32_t* ids, int64_t n,
                         const int64_t* sent_ends, int64_t S, const float* keep_prob,
                         const float* noise_prob, const int32_t* noise_alias,
                         const float* noise_logq, int64_t V, int64_t D, const W2vParams& p,
                         int64_t blocks, double* loss_per_block, int64_t* pairs_per_block,
                         void* stream);
// Host arrays in and out (copies to the device and back, synchronous).
void alias_sample_cuda_from_host(int32_t* out, const float* prob, const int32_t* alias, int64_t V,
                                 int64_t n, uint64_t seed, uint64_t counter);
W2vResult word2vec_train_cuda_from_host(float* syn0, float* syn1, float* bias, const int32_t* ids,
                                        int64_t n, const int64_t* sent_ends, int64_t S,
                                        const float* keep_prob, const float* noise_prob,
                                        const int32_t* noise_alias, const float* noise_logq,
                                        int64_t V, int64_t D, const W2vParams& p, int64_t blocks);

// Shared by the CUDA launcher and its emulation: the checks beyond word2vec_check_args, the shard
// count actually launched, and the kernel's argument block.
inline int64_t word2vec_cuda_blocks(int64_t blocks, int64_t S) {
  return blocks < 1 ? 1 : (blocks > S ? (S > 0 ? S : 1) : blocks);
}

}  // namespace lf
