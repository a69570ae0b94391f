// word2vec on the CPU (contract in ops/word2vec.h): the byte tokenizer and its hash table, the
// vocabulary counter and encoder, the alias / log-uniform samplers, and the training step: the
// naive serial reference (double dot products, sigmoid and neu1e) beside the optimized Hogwild
// driver, whose per-ISA inner loops live in word2vec_kernel.inc.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/check.h"
#include "core/cpu_features.h"
#include "core/interrupt.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "ops/word2vec.h"
#include "ops/word2vec_kernels.h"

#ifdef LF_WITH_OPENMP
#include <omp.h>
#endif

namespace lf {

namespace {

uint64_t hash_bytes(const char* p, size_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xff51afd7ed558ccdull);
  while (n >= 8) {
    uint64_t x;
    std::memcpy(&x, p, 8);
    h = (h ^ x) * 0xbf58476d1ce4e5b9ull;
    h ^= h >> 31;
    p += 8;
    n -= 8;
  }
  if (n) {
    uint64_t x = 0;
    std::memcpy(&x, p, n);
    h = (h ^ x) * 0x94d049bb133111ebull;
    h ^= h >> 29;
  }
  h *= 0xff51afd7ed558ccdull;
  return h ^ (h >> 32);
}

// Byte classes: 0 token byte, 1 separator, 2 '\n', 3 NUL.
struct ByteClasses {
  uint8_t c[256];
  constexpr ByteClasses() : c{} {
    for (int i = 0; i < 256; ++i) c[i] = 0;
    c[static_cast<int>(' ')] = c[static_cast<int>('\t')] = c[static_cast<int>('\r')] = 1;
    c[static_cast<int>('\v')] = c[static_cast<int>('\f')] = 1;
    c[static_cast<int>('\n')] = 2;
    c[0] = 3;
  }
};
constexpr ByteClasses kClasses{};

// Index of the first byte of s that breaks UTF-8 (overlong forms, surrogates and code points
// above U+10FFFF included), or -1 when s is valid.
int64_t utf8_invalid_at(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const int64_t n = static_cast<int64_t>(s.size());
  int64_t i = 0;
  while (i < n) {
    const unsigned c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return i;
    }
    if (i + len > n) return i;
    if (p[i + 1] < lo || p[i + 1] > hi) return i;
    for (int k = 2; k < len; ++k) {
      if (p[i + k] < 0x80 || p[i + k] > 0xBF) return i;
    }
    i += len;
  }
  return -1;
}

}  // namespace

// ---- hash table ----

W2vTable::W2vTable() : slots_(1024, -1) {}

void W2vTable::grow() {
  std::vector<int64_t> slots(slots_.size() * 2, -1);
  const uint64_t mask = slots.size() - 1;
  for (int64_t i = 0; i < size(); ++i) {
    uint64_t h = hashes_[static_cast<size_t>(i)] & mask;
    while (slots[h] >= 0) h = (h + 1) & mask;
    slots[h] = i;
  }
  slots_.swap(slots);
}

int64_t W2vTable::find(std::string_view s) const {
  const uint64_t hash = hash_bytes(s.data(), s.size());
  const uint64_t mask = slots_.size() - 1;
  for (uint64_t h = hash & mask;; h = (h + 1) & mask) {
    const int64_t i = slots_[h];
    if (i < 0) return -1;
    const auto k = static_cast<size_t>(i);
    if (hashes_[k] == hash && lengths_[k] == s.size() &&
        std::memcmp(arena_.data() + offsets_[k], s.data(), s.size()) == 0) {
      return i;
    }
  }
}

int64_t W2vTable::find_or_insert(std::string_view s, bool* inserted) {
  const uint64_t hash = hash_bytes(s.data(), s.size());
  uint64_t mask = slots_.size() - 1;
  uint64_t h = hash & mask;
  for (;; h = (h + 1) & mask) {
    const int64_t i = slots_[h];
    if (i < 0) break;
    const auto k = static_cast<size_t>(i);
    if (hashes_[k] == hash && lengths_[k] == s.size() &&
        std::memcmp(arena_.data() + offsets_[k], s.data(), s.size()) == 0) {
      *inserted = false;
      return i;
    }
  }
  LF_CHECK(s.size() < (uint64_t{1} << 32), "a token of ", s.size(), " bytes is too long");
  const int64_t i = size();
  hashes_.push_back(hash);
  offsets_.push_back(static_cast<int64_t>(arena_.size()));
  lengths_.push_back(static_cast<uint32_t>(s.size()));
  values_.push_back(0);
  arena_.insert(arena_.end(), s.begin(), s.end());
  slots_[h] = i;
  if (static_cast<uint64_t>(size()) * 2 > slots_.size()) grow();  // load factor <= 1/2
  *inserted = true;
  return i;
}

// ---- scanner ----

template <class OnToken, class OnEol>
void W2vScanner::feed(const char* p, int64_t n, bool final, OnToken&& on_token, OnEol&& on_eol) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  int64_t i = 0;
  if (!pending_.empty()) {  // the token cut by the previous chunk continues
    while (i < n && kClasses.c[b[i]] == 0) ++i;
    pending_.append(p, static_cast<size_t>(i));
    if (i < n) {
      on_token(std::string_view(pending_), pending_start_);
      pending_.clear();
    }
  }
  while (i < n) {
    const unsigned k = kClasses.c[b[i]];
    if (k == 0) {
      const int64_t start = i;
      while (i < n && kClasses.c[b[i]] == 0) ++i;
      if (i == n) {
        pending_.assign(p + start, static_cast<size_t>(n - start));
        pending_start_ = offset_ + start;
        break;
      }
      on_token(std::string_view(p + start, static_cast<size_t>(i - start)), offset_ + start);
      continue;
    }
    if (k == 2) {
      on_eol();
    } else if (k == 3) {
      LF_CHECK(false, "NUL byte at offset ", offset_ + i, " of the text: binary file?");
    }
    ++i;
  }
  offset_ += n;
  if (final) {
    if (!pending_.empty()) {
      on_token(std::string_view(pending_), pending_start_);
      pending_.clear();
    }
    on_eol();
  }
}

// ---- counter ----

void TokenCounter::add(const char* p, int64_t n, bool final) {
  auto& values = table_.values();
  scanner_.feed(
      p, n, final,
      [&](std::string_view s, int64_t off) {
        bool inserted;
        int64_t idx = table_.find(s);
        if (idx < 0) {
          const int64_t bad = utf8_invalid_at(s);
          LF_CHECK(bad < 0, "invalid UTF-8 in the token starting at byte offset ", off,
                   " (bad byte at offset ", off + bad, ")");
          idx = table_.find_or_insert(s, &inserted);
        }
        ++values[static_cast<size_t>(idx)];
        ++n_tokens_;
        line_has_token_ = true;
      },
      [&] {
        n_sentences_ += line_has_token_ ? 1 : 0;
        line_has_token_ = false;
      });
}

void TokenCounter::items(int64_t min_count, std::vector<std::string_view>* words,
                         std::vector<int64_t>* counts) const {
  const auto& values = table_.values();
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < table_.size(); ++i) {
    if (values[static_cast<size_t>(i)] >= min_count) idx.push_back(i);
  }
  std::sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) {
    const int64_t ca = values[static_cast<size_t>(a)], cb = values[static_cast<size_t>(b)];
    if (ca != cb) return ca > cb;
    return table_.key(a) < table_.key(b);  // char_traits<char>: bytes compared as unsigned
  });
  words->clear();
  counts->clear();
  for (const int64_t i : idx) {
    words->push_back(table_.key(i));
    counts->push_back(values[static_cast<size_t>(i)]);
  }
}

// ---- encoder ----

TokenEncoder::TokenEncoder(const std::vector<std::string>& words) {
  for (size_t i = 0; i < words.size(); ++i) {
    bool inserted;
    const int64_t idx = table_.find_or_insert(words[i], &inserted);
    LF_CHECK(inserted, "words has a duplicate: '", words[i], "' at positions ", idx, " and ", i);
  }
  LF_CHECK(table_.size() < (int64_t{1} << 31), "words: at most 2**31 - 1 words");
}

int64_t TokenEncoder::lookup(std::string_view w) const { return table_.find(w); }

void TokenEncoder::encode(const char* p, int64_t n, bool final, std::vector<int32_t>* ids,
                          std::vector<int64_t>* sent_ends) {
  const int64_t base = static_cast<int64_t>(ids->size());
  auto flush = [&] {
    if (partial_.empty()) return;
    ids->insert(ids->end(), partial_.begin(), partial_.end());
    sent_ends->push_back(static_cast<int64_t>(ids->size()) - base);
    partial_.clear();
  };
  scanner_.feed(
      p, n, final,
      [&](std::string_view s, int64_t) {
        const int64_t idx = table_.find(s);
        if (idx < 0) return;
        partial_.push_back(static_cast<int32_t>(idx));
        if (static_cast<int64_t>(partial_.size()) == kW2vMaxSentence) flush();
      },
      flush);
}

// ---- alias table and samplers ----

void alias_build_cpu(float* prob, int32_t* alias, const double* weights, int64_t V) {
  LF_CHECK(V >= 1 && V < (int64_t{1} << 31), "weights must have 1 to 2**31 - 1 entries, got ", V);
  double sum = 0.0;
  for (int64_t i = 0; i < V; ++i) {
    LF_CHECK(std::isfinite(weights[i]) && weights[i] >= 0.0,
             "weights must be finite and >= 0, got ", weights[i], " at index ", i);
    sum += weights[i];
  }
  LF_CHECK(sum > 0.0 && std::isfinite(sum), "weights must have a positive finite sum, got ", sum);
  std::vector<double> scaled(static_cast<size_t>(V));
  std::vector<int32_t> small, large;
  for (int64_t i = 0; i < V; ++i) {
    scaled[static_cast<size_t>(i)] = weights[i] * static_cast<double>(V) / sum;
    (scaled[static_cast<size_t>(i)] < 1.0 ? small : large).push_back(static_cast<int32_t>(i));
  }
  while (!small.empty() && !large.empty()) {
    const int32_t s = small.back(), l = large.back();
    small.pop_back();
    large.pop_back();
    prob[s] = static_cast<float>(scaled[static_cast<size_t>(s)]);
    alias[s] = l;
    double& rl = scaled[static_cast<size_t>(l)];
    rl = (rl + scaled[static_cast<size_t>(s)]) - 1.0;
    (rl < 1.0 ? small : large).push_back(l);
  }
  // Leftovers are 1 up to rounding.
  for (const int32_t i : large) prob[i] = 1.0f, alias[i] = i;
  for (const int32_t i : small) prob[i] = 1.0f, alias[i] = i;
  for (int64_t i = 0; i < V; ++i) prob[i] = std::min(1.0f, std::max(0.0f, prob[i]));
}

void alias_sample_naive(int32_t* out, const float* prob, const int32_t* alias, int64_t V, int64_t n,
                        uint64_t seed, uint64_t counter) {
  for (int64_t j = 0; j < n; ++j) {
    out[j] = w2v_noise(seed, counter + static_cast<uint64_t>(j), prob, alias, V, 0.0);
  }
}

void alias_sample_cpu(int32_t* out, const float* prob, const int32_t* alias, int64_t V, int64_t n,
                      uint64_t seed, uint64_t counter, int num_threads) {
  parallel_for_blocks(n, num_threads, [&](int64_t b, int64_t e) {
    int64_t j = b;
    uint32_t w[4];
    if (j < e && ((counter + static_cast<uint64_t>(j)) & 1u)) {
      out[j] = w2v_noise(seed, counter + static_cast<uint64_t>(j), prob, alias, V, 0.0);
      ++j;
    }
    for (; j + 2 <= e; j += 2) {  // two draws per Philox block
      philox_block(w, seed, kW2vNoiseStream, (counter + static_cast<uint64_t>(j)) >> 1);
      out[j] = w2v_alias_pick(prob, alias, V, w[0], w[1]);
      out[j + 1] = w2v_alias_pick(prob, alias, V, w[2], w[3]);
    }
    if (j < e) out[j] = w2v_noise(seed, counter + static_cast<uint64_t>(j), prob, alias, V, 0.0);
  });
}

void log_uniform_sample_cpu(int32_t* out, int64_t V, int64_t n, uint64_t seed, uint64_t counter,
                            int num_threads) {
  LF_CHECK(V >= 1 && V < (int64_t{1} << 31), "V must be in [1, 2**31), got ", V);
  const double log_v1 = std::log(static_cast<double>(V) + 1.0);
  parallel_for_blocks(n, num_threads, [&](int64_t b, int64_t e) {
    for (int64_t j = b; j < e; ++j) {
      out[j] = w2v_noise(seed, counter + static_cast<uint64_t>(j), nullptr, nullptr, V, log_v1);
    }
  });
}

// ---- training ----

namespace {

// The kept tokens of sentence [b, e): ids, job positions, window reductions.
struct Kept {
  std::vector<int32_t> id;
  std::vector<int64_t> pos;
  std::vector<int> red;
};

void subsample(Kept* k, const int32_t* ids, int64_t b, int64_t e, const float* keep_prob,
               const W2vParams& p) {
  k->id.clear();
  k->pos.clear();
  k->red.clear();
  for (int64_t i = b; i < e; ++i) {
    float u;
    int r;
    w2v_token_draws(p.seed, p.counter + static_cast<uint64_t>(i), p.window, &u, &r);
    const int32_t w = ids[i];
    if (keep_prob && !(u < keep_prob[w])) continue;
    k->id.push_back(w);
    k->pos.push_back(i);
    k->red.push_back(r);
  }
}

// Cross-entropy of logit s with a label, and sigmoid(s), in double.
inline double xent_naive(double s, bool label, double* f) {
  const double e = std::exp(-std::fabs(s));
  *f = s >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
  return (label ? std::max(-s, 0.0) : std::max(s, 0.0)) + std::log1p(e);
}

}  // namespace

W2vResult word2vec_train_naive(float* syn0, float* syn1, float* bias, const int32_t* ids, int64_t n,
                               const int64_t* sent_ends, int64_t S, const float* keep_prob,
                               const float* noise_prob, const int32_t* noise_alias,
                               const float* noise_logq, int64_t V, int64_t D, const W2vParams& p) {
  word2vec_check_args(ids, n, sent_ends, S, V, D, p);
  LF_CHECK(p.loss != W2vLoss::nce || noise_logq, "noise_logq is required for loss 'nce'");
  const double log_v1 = std::log(static_cast<double>(V) + 1.0);
  const int k = p.negative, W = p.window;
  const bool nce = p.loss == W2vLoss::nce;
  const bool skip_hits = !nce || p.remove_accidental_hits;
  const double logk = std::log(static_cast<double>(k));
  const uint64_t M = static_cast<uint64_t>(k) * (p.sg && !p.batched ? 2u * W : 1u);
  W2vResult res;
  res.words = n;
  Kept kept;
  std::vector<double> neu1e(static_cast<size_t>(D));
  std::vector<int32_t> targets;
  std::vector<int64_t> ctx;
  std::vector<double> G, dX, dT;
  // One (input vector v, target t, label) step of the classic update; returns the loss.
  auto step = [&](const double* v, int32_t t, bool label, double lr) {
    float* u = syn1 + static_cast<int64_t>(t) * D;
    double s = 0.0;
    for (int64_t d = 0; d < D; ++d) s += v[d] * static_cast<double>(u[d]);
    if (bias) s += bias[t];
    if (nce) s -= logk + noise_logq[t];
    double f;
    const double loss = xent_naive(s, label, &f);
    const double g = ((label ? 1.0 : 0.0) - f) * lr;
    for (int64_t d = 0; d < D; ++d) {
      neu1e[static_cast<size_t>(d)] += g * u[d];
      u[d] = static_cast<float>(u[d] + g * v[d]);
    }
    if (bias) bias[t] = static_cast<float>(bias[t] + g);
    return loss;
  };
  int64_t begin = 0;
  for (int64_t si = 0; si < S; ++si) {
    const int64_t end = sent_ends[si];
    subsample(&kept, ids, begin, end, keep_prob, p);
    begin = end;
    const int64_t m = static_cast<int64_t>(kept.id.size());
    for (int64_t c = 0; c < m; ++c) {
      const int32_t center = kept.id[static_cast<size_t>(c)];
      const int64_t i = kept.pos[static_cast<size_t>(c)];
      const uint64_t t = p.counter + static_cast<uint64_t>(i);
      const double lr = p.alpha + (static_cast<double>(p.alpha_end) - p.alpha) *
                                      static_cast<double>(i) / static_cast<double>(n);
      const int win = W - kept.red[static_cast<size_t>(c)];
      ctx.clear();
      for (int64_t x = std::max<int64_t>(0, c - win); x <= std::min(m - 1, c + win); ++x) {
        if (x != c) ctx.push_back(x);
      }
      if (ctx.empty()) continue;
      auto noise = [&](uint64_t g) {
        return w2v_noise(p.seed, g, noise_prob, noise_alias, V, log_v1);
      };
      if (!p.sg) {  // CBOW: the mean of the contexts predicts the center
        std::vector<double> hv(static_cast<size_t>(D));
        for (int64_t d = 0; d < D; ++d) {
          // The mean as the optimized kernel forms it (float sum, then float scale).
          float acc = 0.0f;
          for (const int64_t x : ctx)
            acc += syn0[static_cast<int64_t>(kept.id[static_cast<size_t>(x)]) * D + d];
          hv[static_cast<size_t>(d)] = acc * (1.0f / static_cast<float>(ctx.size()));
        }
        std::fill(neu1e.begin(), neu1e.end(), 0.0);
        double loss = step(hv.data(), center, true, lr);
        for (int r = 0; r < k; ++r) {
          const int32_t w = noise(t * M + static_cast<uint64_t>(r));
          if (w == center && skip_hits) continue;
          loss += step(hv.data(), w, false, lr);
        }
        for (const int64_t x : ctx) {
          float* r = syn0 + static_cast<int64_t>(kept.id[static_cast<size_t>(x)]) * D;
          for (int64_t d = 0; d < D; ++d)
            r[d] = static_cast<float>(r[d] + neu1e[static_cast<size_t>(d)]);
        }
        res.loss_sum += loss;
        res.pairs += 1;
      } else if (!p.batched) {  // skip-gram, classic per-pair updates
        for (const int64_t x : ctx) {
          const int64_t off = x - c;
          const uint64_t slot = static_cast<uint64_t>(off < 0 ? off + W : off + W - 1);
          float* vr = syn0 + static_cast<int64_t>(kept.id[static_cast<size_t>(x)]) * D;
          std::vector<double> v(vr, vr + D);
          std::fill(neu1e.begin(), neu1e.end(), 0.0);
          double loss = step(v.data(), center, true, lr);
          for (int r = 0; r < k; ++r) {
            const int32_t w =
                noise(t * M + slot * static_cast<uint64_t>(k) + static_cast<uint64_t>(r));
            if (w == center && skip_hits) continue;
            loss += step(v.data(), w, false, lr);
          }
          for (int64_t d = 0; d < D; ++d)
            vr[d] = static_cast<float>(vr[d] + neu1e[static_cast<size_t>(d)]);
          res.loss_sum += loss;
          res.pairs += 1;
        }
      } else {  // skip-gram, batched: negatives shared by the window, updates after it
        targets.assign(1, center);
        std::vector<uint8_t> live(1, 1);
        for (int r = 0; r < k; ++r) {
          const int32_t w = noise(t * M + static_cast<uint64_t>(r));
          targets.push_back(w);
          live.push_back(!(w == center && skip_hits));
        }
        const int64_t nx = static_cast<int64_t>(ctx.size()), nt = k + 1;
        G.assign(static_cast<size_t>(nx * nt), 0.0);
        double loss = 0.0;
        for (int64_t a = 0; a < nx; ++a) {
          const float* xv =
              syn0 +
              static_cast<int64_t>(kept.id[static_cast<size_t>(ctx[static_cast<size_t>(a)])]) * D;
          for (int64_t r = 0; r < nt; ++r) {
            if (!live[static_cast<size_t>(r)]) continue;
            const int32_t tw = targets[static_cast<size_t>(r)];
            const float* u = syn1 + static_cast<int64_t>(tw) * D;
            double s = 0.0;
            for (int64_t d = 0; d < D; ++d) s += static_cast<double>(xv[d]) * u[d];
            if (bias) s += bias[tw];
            if (nce) s -= logk + noise_logq[tw];
            double f;
            loss += xent_naive(s, r == 0, &f);
            G[static_cast<size_t>(a * nt + r)] = ((r == 0 ? 1.0 : 0.0) - f) * lr;
          }
        }
        dX.assign(static_cast<size_t>(nx * D), 0.0);
        dT.assign(static_cast<size_t>(nt * D), 0.0);
        for (int64_t a = 0; a < nx; ++a) {
          const float* xv =
              syn0 +
              static_cast<int64_t>(kept.id[static_cast<size_t>(ctx[static_cast<size_t>(a)])]) * D;
          for (int64_t r = 0; r < nt; ++r) {
            const double g = G[static_cast<size_t>(a * nt + r)];
            const float* u = syn1 + static_cast<int64_t>(targets[static_cast<size_t>(r)]) * D;
            for (int64_t d = 0; d < D; ++d) {
              dX[static_cast<size_t>(a * D + d)] += g * u[d];
              dT[static_cast<size_t>(r * D + d)] += g * xv[d];
            }
          }
        }
        for (int64_t r = 0; r < nt; ++r) {
          const int32_t tw = targets[static_cast<size_t>(r)];
          float* u = syn1 + static_cast<int64_t>(tw) * D;
          for (int64_t d = 0; d < D; ++d)
            u[d] = static_cast<float>(u[d] + dT[static_cast<size_t>(r * D + d)]);
          if (bias) {
            double gb = 0.0;
            for (int64_t a = 0; a < nx; ++a) gb += G[static_cast<size_t>(a * nt + r)];
            bias[tw] = static_cast<float>(bias[tw] + gb);
          }
        }
        for (int64_t a = 0; a < nx; ++a) {
          float* xv =
              syn0 +
              static_cast<int64_t>(kept.id[static_cast<size_t>(ctx[static_cast<size_t>(a)])]) * D;
          for (int64_t d = 0; d < D; ++d)
            xv[d] = static_cast<float>(xv[d] + dX[static_cast<size_t>(a * D + d)]);
        }
        res.loss_sum += loss;
        res.pairs += nx;
      }
    }
  }
  return res;
}

W2vResult word2vec_train_cpu(float* syn0, float* syn1, float* bias, const int32_t* ids, int64_t n,
                             const int64_t* sent_ends, int64_t S, const float* keep_prob,
                             const float* noise_prob, const int32_t* noise_alias,
                             const float* noise_logq, int64_t V, int64_t D, const W2vParams& p,
                             int num_threads) {
  word2vec_check_args(ids, n, sent_ends, S, V, D, p);
  LF_CHECK(p.loss != W2vLoss::nce || noise_logq, "noise_logq is required for loss 'nce'");
  w2v_detail::W2vJob job{syn0,      syn1,       bias,        ids,        n, sent_ends, S,
                         keep_prob, noise_prob, noise_alias, noise_logq, V, D,         p};
  const auto& kern = w2v_detail::w2v_kernels_for(active_isa());
  W2vResult res;
  res.words = n;
  if (S == 0) return res;
  const int T = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(num_threads, S)));
  // P shards, taken by the T threads as they become free: with one shard per thread, a thread
  // slowed down (by the reader thread of word2vec.py, which encodes the next job meanwhile, or
  // by the machine) held the whole job back, its peer idle at the barrier; with kShardsPerThread
  // the slow thread takes fewer of them. One thread: one shard (the same order either way).
  constexpr int kShardsPerThread = 8;
  const int P = static_cast<int>(std::min<int64_t>(S, T == 1 ? 1 : kShardsPerThread * T));
  // Shard t: the sentences whose end lies in (t n / P, (t + 1) n / P], about n / P tokens each.
  std::vector<int64_t> first(static_cast<size_t>(P) + 1);
  for (int t = 0; t <= P; ++t) {
    const int64_t target = n * t / P;
    first[static_cast<size_t>(t)] =
        t == P ? S : std::upper_bound(sent_ends, sent_ends + S, target) - sent_ends;
  }
  first[0] = 0;
  std::vector<W2vResult> parts(static_cast<size_t>(P));
  const InterruptPoll poll;
  FirstError err;
#ifdef LF_WITH_OPENMP
#pragma omp parallel for num_threads(T) schedule(dynamic, 1) if (T > 1)
#endif
  for (int t = 0; t < P; ++t) {
    err.run([&] {
      parts[static_cast<size_t>(t)] = kern.train_shard(job, first[static_cast<size_t>(t)],
                                                       first[static_cast<size_t>(t) + 1], poll);
    });
  }
  err.rethrow();
  for (const W2vResult& r : parts) {
    res.loss_sum += r.loss_sum;
    res.pairs += r.pairs;
  }
  return res;
}

}  // namespace lf
