// Bindings of the word2vec kernels (ops/word2vec.h): TokenCounter, TokenEncoder, alias_build,
// alias_sample, log_uniform_sample and word2vec_train. Arrays are validated through
// bindings/array_check.h (TypeError: not an array / wrong dtype; ValueError: shape, layout,
// values), text chunks are bytes-like objects, and the GIL is released around every kernel
// (a mutex per counter / encoder serialises concurrent calls on one object).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "bindings/array_check.h"
#include "bindings/device_args.h"
#include "bindings/sigint.h"
#include "core/parallel.h"
#include "ops/word2vec.h"

namespace py = pybind11;

namespace {

using lf::bind::array_arg;
using lf::bind::cptr;
using lf::bind::mptr;
using lf::bind::shape_str;
using lf::bind::uint_arg;

// A read-only view of a bytes-like chunk (bytes, bytearray, memoryview of bytes); the buffer
// object is kept alive by the caller's reference for the duration of the call.
struct Chunk {
  py::buffer_info info;
  const char* data() const { return static_cast<const char*>(info.ptr); }
  int64_t size() const { return static_cast<int64_t>(info.size * info.itemsize); }
};

Chunk chunk_arg(const py::object& obj) {
  if (py::isinstance<py::str>(obj)) {
    throw py::type_error("chunk must be bytes (encode text as UTF-8), got str");
  }
  if (!PyObject_CheckBuffer(obj.ptr())) {
    throw py::type_error("chunk must be a bytes-like object, got " + lf::bind::type_name(obj));
  }
  Chunk c{py::reinterpret_borrow<py::buffer>(obj).request()};
  const bool contiguous =
      c.info.ndim <= 1 && (c.info.ndim == 0 || c.info.strides[0] == c.info.itemsize);
  if (!contiguous || c.info.itemsize != 1) {
    throw py::value_error("chunk must be a contiguous buffer of bytes");
  }
  return c;
}

struct Counter {
  lf::TokenCounter c;
  std::mutex mu;
};

struct Encoder {
  explicit Encoder(const std::vector<std::string>& words) : e(words) {}
  lf::TokenEncoder e;
  std::mutex mu;
};

void counter_add(Counter& self, const py::object& chunk_obj, bool final) {
  const Chunk ch = chunk_arg(chunk_obj);
  py::gil_scoped_release release;
  std::lock_guard<std::mutex> lock(self.mu);
  self.c.add(ch.data(), ch.size(), final);
}

py::tuple counter_items(Counter& self, int64_t min_count) {
  if (min_count < 0)
    throw py::value_error("min_count must be >= 0, got " + std::to_string(min_count));
  std::vector<std::string_view> words;
  std::vector<int64_t> counts;
  {
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(self.mu);
    self.c.items(min_count, &words, &counts);
  }
  py::list out(words.size());
  for (size_t i = 0; i < words.size(); ++i) {
    PyObject* s =
        PyUnicode_DecodeUTF8(words[i].data(), static_cast<Py_ssize_t>(words[i].size()), "strict");
    if (!s) throw py::error_already_set();
    PyList_SET_ITEM(out.ptr(), static_cast<Py_ssize_t>(i), s);
  }
  py::array_t<int64_t> arr(static_cast<py::ssize_t>(counts.size()));
  std::copy(counts.begin(), counts.end(), arr.mutable_data());
  return py::make_tuple(out, arr);
}

py::tuple encoder_encode(Encoder& self, const py::object& chunk_obj, bool final) {
  const Chunk ch = chunk_arg(chunk_obj);
  std::vector<int32_t> ids;
  std::vector<int64_t> ends;
  {
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(self.mu);
    self.e.encode(ch.data(), ch.size(), final, &ids, &ends);
  }
  py::array_t<int32_t> a(static_cast<py::ssize_t>(ids.size()));
  std::copy(ids.begin(), ids.end(), a.mutable_data());
  py::array_t<int64_t> b(static_cast<py::ssize_t>(ends.size()));
  std::copy(ends.begin(), ends.end(), b.mutable_data());
  return py::make_tuple(a, b);
}

py::tuple alias_build(const py::object& w_obj) {
  const auto w = array_arg<double>(w_obj, "weights", 1, "(V,)");
  const int64_t V = w.shape(0);
  if (V < 1) throw py::value_error("weights must not be empty");
  py::array_t<float> prob(static_cast<py::ssize_t>(V));
  py::array_t<int32_t> alias(static_cast<py::ssize_t>(V));
  float* pp = prob.mutable_data();
  int32_t* ap = alias.mutable_data();
  {
    py::gil_scoped_release release;
    lf::alias_build_cpu(pp, ap, cptr<double>(w), V);
  }
  return py::make_tuple(prob, alias);
}

// prob (V,) float32 in [0, 1] and alias (V,) int32 in [0, V); returns V.
int64_t alias_table_arg(const py::array& prob, const char* pn, const py::array& alias,
                        const char* an) {
  const int64_t V = prob.shape(0);
  if (V < 1) throw py::value_error(std::string(pn) + " must not be empty");
  if (alias.shape(0) != V) {
    throw py::value_error(std::string(an) + " must have the shape of " + pn + " (" +
                          std::to_string(V) + ",), got " + shape_str(alias));
  }
  const float* p = cptr<float>(prob);
  const int32_t* a = cptr<int32_t>(alias);
  for (int64_t i = 0; i < V; ++i) {
    if (!(p[i] >= 0.0f && p[i] <= 1.0f)) {
      throw py::value_error(std::string(pn) + " must lie in [0, 1], got " + std::to_string(p[i]) +
                            " at index " + std::to_string(i));
    }
    if (a[i] < 0 || a[i] >= V) {
      throw py::value_error(std::string(an) + " must lie in [0, " + std::to_string(V) + "), got " +
                            std::to_string(a[i]) + " at index " + std::to_string(i));
    }
  }
  return V;
}

int64_t count_arg(int64_t n, const char* name) {
  if (n < 0) throw py::value_error(std::string(name) + " must be >= 0, got " + std::to_string(n));
  return n;
}

py::array alias_sample(const py::object& prob_obj, const py::object& alias_obj, int64_t n,
                       const py::object& seed_obj, const py::object& counter_obj, bool naive) {
  const auto prob = array_arg<float>(prob_obj, "prob", 1, "(V,)");
  const auto alias = array_arg<int32_t>(alias_obj, "alias", 1, "(V,)");
  const int64_t V = alias_table_arg(prob, "prob", alias, "alias");
  count_arg(n, "n");
  const uint64_t seed = uint_arg(seed_obj, "seed", 64);
  const uint64_t counter = uint_arg(counter_obj, "counter", 64);
  py::array_t<int32_t> out(static_cast<py::ssize_t>(n));
  int32_t* op = out.mutable_data();
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    if (naive) {
      lf::alias_sample_naive(op, cptr<float>(prob), cptr<int32_t>(alias), V, n, seed, counter);
    } else {
      lf::alias_sample_cpu(op, cptr<float>(prob), cptr<int32_t>(alias), V, n, seed, counter, nt);
    }
  }
  return out;
}

py::array log_uniform_sample(int64_t V, int64_t n, const py::object& seed_obj,
                             const py::object& counter_obj) {
  if (V < 1 || V >= (int64_t{1} << 31)) {
    throw py::value_error("V must be in [1, 2**31), got " + std::to_string(V));
  }
  count_arg(n, "n");
  const uint64_t seed = uint_arg(seed_obj, "seed", 64);
  const uint64_t counter = uint_arg(counter_obj, "counter", 64);
  py::array_t<int32_t> out(static_cast<py::ssize_t>(n));
  int32_t* op = out.mutable_data();
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    lf::log_uniform_sample_cpu(op, V, n, seed, counter, nt);
  }
  return out;
}

// An optional (V,) array of T: None stays None.
template <class T>
py::object optional_vector(const py::object& obj, const char* name, int64_t V, bool writable) {
  if (obj.is_none()) return py::none();
  auto a = array_arg<T>(obj, name, 1, "(V,)", writable);
  if (a.shape(0) != V) {
    throw py::value_error(std::string(name) + " must have shape (" + std::to_string(V) +
                          ",) like syn0's rows, got " + shape_str(a));
  }
  return a;
}

py::tuple word2vec_train(const py::object& syn0_obj, const py::object& syn1_obj,
                         const py::object& bias_obj, const py::object& ids_obj,
                         const py::object& ends_obj, const py::object& keep_obj,
                         const py::object& nprob_obj, const py::object& nalias_obj,
                         const py::object& logq_obj, bool sg, const std::string& loss, int negative,
                         int window, float alpha, float alpha_end, const py::object& seed_obj,
                         const py::object& counter_obj, bool remove_accidental_hits, bool batched,
                         int num_threads, bool naive) {
  const auto syn0 = array_arg<float>(syn0_obj, "syn0", 2, "(V, D)", true);
  const auto syn1 = array_arg<float>(syn1_obj, "syn1", 2, "(V, D)", true);
  lf::bind::require_same_shape(syn0, "syn0", syn1, "syn1");
  const int64_t V = syn0.shape(0), D = syn0.shape(1);
  if (V < 1 || V >= (int64_t{1} << 31)) {
    throw py::value_error("syn0 must have 1 to 2**31 - 1 rows, got " + shape_str(syn0));
  }
  if (D < 1) throw py::value_error("syn0 must have at least one column, got " + shape_str(syn0));
  const auto bias = optional_vector<float>(bias_obj, "bias", V, true);
  const auto ids = array_arg<int32_t>(ids_obj, "ids", 1, "(n,)");
  const auto ends = array_arg<int64_t>(ends_obj, "sent_ends", 1, "(S,)");
  const auto keep = optional_vector<float>(keep_obj, "keep_prob", V, false);
  if (nprob_obj.is_none() != nalias_obj.is_none()) {
    throw py::value_error(
        "noise_prob and noise_alias must both be arrays (alias noise) or both "
        "None (log-uniform noise)");
  }
  py::object nprob = py::none(), nalias = py::none();
  if (!nprob_obj.is_none()) {
    nprob = array_arg<float>(nprob_obj, "noise_prob", 1, "(V,)");
    nalias = array_arg<int32_t>(nalias_obj, "noise_alias", 1, "(V,)");
    const auto np_ = py::reinterpret_borrow<py::array>(nprob);
    if (np_.shape(0) != V) {
      throw py::value_error("noise_prob must have shape (" + std::to_string(V) +
                            ",) like syn0's rows, got " + shape_str(np_));
    }
    alias_table_arg(np_, "noise_prob", py::reinterpret_borrow<py::array>(nalias), "noise_alias");
  }
  const auto logq = optional_vector<float>(logq_obj, "noise_logq", V, false);
  lf::W2vParams p;
  if (loss == "negative") {
    p.loss = lf::W2vLoss::negative;
  } else if (loss == "nce") {
    p.loss = lf::W2vLoss::nce;
    if (logq.is_none()) throw py::value_error("noise_logq is required for loss='nce'");
  } else {
    throw py::value_error("loss must be 'negative' or 'nce', got '" + loss + "'");
  }
  p.sg = sg;
  p.negative = negative;
  p.window = window;
  p.alpha = alpha;
  p.alpha_end = alpha_end;
  p.seed = uint_arg(seed_obj, "seed", 64);
  p.counter = uint_arg(counter_obj, "counter", 64);
  p.remove_accidental_hits = remove_accidental_hits;
  p.batched = batched;
  if (num_threads == 0 || num_threads < -1) {
    throw py::value_error("num_threads must be >= 1 or -1 (the library's setting), got " +
                          std::to_string(num_threads));
  }
  const int nt = num_threads == -1 ? lf::num_threads() : num_threads;
  // Everything the kernel writes must not share memory with anything else it reads or writes.
  const std::vector<std::pair<const py::object*, const char*>> all = {
      {&syn0, "syn0"},        {&syn1, "syn1"},          {&bias, "bias"},
      {&ids, "ids"},          {&ends, "sent_ends"},     {&keep, "keep_prob"},
      {&nprob, "noise_prob"}, {&nalias, "noise_alias"}, {&logq, "noise_logq"}};
  for (size_t a = 0; a < 3; ++a) {
    for (size_t b = 0; b < all.size(); ++b) {
      if (a == b || all[a].first->is_none() || all[b].first->is_none()) continue;
      if (lf::bind::overlaps(py::reinterpret_borrow<py::array>(*all[a].first),
                             py::reinterpret_borrow<py::array>(*all[b].first))) {
        throw py::value_error(std::string(all[a].second) + " must not share memory with " +
                              all[b].second);
      }
    }
  }
  const int64_t n = ids.shape(0), S = ends.shape(0);
  const int32_t* idp = cptr<int32_t>(ids);
  const int64_t* ep = cptr<int64_t>(ends);
  lf::word2vec_check_args(idp, n, ep, S, V, D, p);  // ValueError naming the argument
  auto ptr = [](const py::object& a) {
    return a.is_none() ? nullptr : const_cast<void*>(py::reinterpret_borrow<py::array>(a).data());
  };
  float* s0 = mptr<float>(syn0);
  float* s1 = mptr<float>(syn1);
  auto* bp = static_cast<float*>(ptr(bias));
  auto* kp = static_cast<const float*>(ptr(keep));
  auto* npp = static_cast<const float*>(ptr(nprob));
  auto* nap = static_cast<const int32_t*>(ptr(nalias));
  auto* lqp = static_cast<const float*>(ptr(logq));
  lf::W2vResult r;
  lf::bind::SigintScope sigint;
  {
    py::gil_scoped_release release;
    if (naive) {
      r = lf::word2vec_train_naive(s0, s1, bp, idp, n, ep, S, kp, npp, nap, lqp, V, D, p);
    } else {
      r = lf::word2vec_train_cpu(s0, s1, bp, idp, n, ep, S, kp, npp, nap, lqp, V, D, p, nt);
    }
  }
  sigint.throw_if_interrupted();
  return py::make_tuple(r.loss_sum, r.words, r.pairs);
}

}  // namespace

void bind_word2vec(py::module_& m) {
  py::class_<Counter>(m, "TokenCounter",
                      "Streamed vocabulary counting: tokens are maximal runs of non-whitespace "
                      "bytes, '\\n' ends a sentence; chunks may cut tokens and lines anywhere.")
      .def(py::init<>())
      .def("add", &counter_add, py::arg("chunk"), py::arg("final") = false,
           "Counts the tokens of a bytes chunk; final=True flushes the last token and line. "
           "ValueError on a NUL byte (binary file?) or a token that is not valid UTF-8, naming "
           "the byte offset.")
      .def_property_readonly("n_tokens", [](Counter& s) { return s.c.n_tokens(); })
      .def_property_readonly("n_sentences", [](Counter& s) { return s.c.n_sentences(); })
      .def_property_readonly("n_distinct", [](Counter& s) { return s.c.n_distinct(); })
      .def("items", &counter_items, py::arg("min_count") = 1,
           "(words, counts): words with count >= min_count, by count descending, ties by the "
           "word's bytes ascending; counts an int64 array.");
  py::class_<Encoder>(m, "TokenEncoder",
                      "Text -> ids with a fixed vocabulary (id = position in words).")
      .def(py::init<const std::vector<std::string>&>(), py::arg("words"))
      .def("encode", &encoder_encode, py::arg("chunk"), py::arg("final") = false,
           "(ids int32, sent_ends int64): the in-vocabulary ids of the complete sentences so far "
           "and each sentence's exclusive end in ids (empty sentences omitted; sentences split "
           "every 10000 ids). The open line is kept for the next call; final=True flushes it.")
      .def("__len__", [](Encoder& s) { return s.e.size(); })
      .def(
          "lookup", [](Encoder& s, const std::string& w) { return s.e.lookup(w); }, py::arg("word"),
          "The id of word, or -1.");
  m.def("alias_build", &alias_build, py::arg("weights"),
        "(prob float32, alias int32): the Walker/Vose alias table of float64 weights (>= 0, "
        "finite, positive sum).");
  m.def("alias_sample", &alias_sample, py::arg("prob"), py::arg("alias"), py::arg("n"),
        py::arg("seed"), py::arg("counter") = 0, py::arg("naive") = false,
        "n int32 draws of the alias table: draw j is Philox noise draw counter + j "
        "(ops/word2vec.h).");
  m.def("log_uniform_sample", &log_uniform_sample, py::arg("V"), py::arg("n"), py::arg("seed"),
        py::arg("counter") = 0,
        "n int32 draws of P(k) = log((k + 2) / (k + 1)) / log(V + 1), k in [0, V).");
  m.def("word2vec_train", &word2vec_train, py::arg("syn0"), py::arg("syn1"), py::arg("bias"),
        py::arg("ids"), py::arg("sent_ends"), py::arg("keep_prob"), py::arg("noise_prob"),
        py::arg("noise_alias"), py::arg("noise_logq"), py::kw_only(), py::arg("sg"),
        py::arg("loss"), py::arg("negative"), py::arg("window"), py::arg("alpha"),
        py::arg("alpha_end"), py::arg("seed"), py::arg("counter"),
        py::arg("remove_accidental_hits"), py::arg("batched"), py::arg("num_threads") = -1,
        py::arg("naive") = false,
        "Trains syn0/syn1 (and bias) in place on one job; returns (loss_sum, words_processed, "
        "pairs_trained). See ops/word2vec.h.");

  // Device pointers (bindings/device_args.h). The device cannot read ids / sent_ends to check
  // them: the caller validates them on the host before uploading (word2vec_check_args).
  auto d = lf::bind::device_module(m);
  using u = std::uintptr_t;
  using lf::bind::dptr;
  d.def(
      "alias_sample",
      [](int device, u stream, u out, u prob, u alias, int64_t V, int64_t n, uint64_t seed,
         uint64_t counter) {
        lf::bind::launch_on(device, stream, [&](void* s) {
          lf::alias_sample_cuda(dptr<int32_t>(out), dptr<const float>(prob),
                                dptr<const int32_t>(alias), V, n, seed, counter, s);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("out"), py::arg("prob"), py::arg("alias"),
      py::arg("V"), py::arg("n"), py::arg("seed"), py::arg("counter"));
  d.def(
      "word2vec_train",
      [](int device, u stream, u syn0, u syn1, u bias, u ids, int64_t n, u sent_ends, int64_t S,
         u keep_prob, u noise_prob, u noise_alias, u noise_logq, int64_t V, int64_t D,
         int64_t blocks, u loss_per_block, u pairs_per_block, bool sg, const std::string& loss,
         int negative, int window, float alpha, float alpha_end, uint64_t seed, uint64_t counter,
         bool remove_accidental_hits) {
        lf::W2vParams p;
        if (loss != "negative" && loss != "nce")
          throw py::value_error("loss must be 'negative' or 'nce', got '" + loss + "'");
        p.loss = loss == "nce" ? lf::W2vLoss::nce : lf::W2vLoss::negative;
        p.sg = sg;
        p.negative = negative;
        p.window = window;
        p.alpha = alpha;
        p.alpha_end = alpha_end;
        p.seed = seed;
        p.counter = counter;
        p.remove_accidental_hits = remove_accidental_hits;
        lf::bind::launch_on(device, stream, [&](void* s) {
          lf::word2vec_train_cuda(dptr<float>(syn0), dptr<float>(syn1), dptr<float>(bias),
                                  dptr<const int32_t>(ids), n, dptr<const int64_t>(sent_ends), S,
                                  dptr<const float>(keep_prob), dptr<const float>(noise_prob),
                                  dptr<const int32_t>(noise_alias), dptr<const float>(noise_logq),
                                  V, D, p, blocks, dptr<double>(loss_per_block),
                                  dptr<int64_t>(pairs_per_block), s);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("syn0"), py::arg("syn1"), py::arg("bias"),
      py::arg("ids"), py::arg("n"), py::arg("sent_ends"), py::arg("S"), py::arg("keep_prob"),
      py::arg("noise_prob"), py::arg("noise_alias"), py::arg("noise_logq"), py::arg("V"),
      py::arg("D"), py::arg("blocks"), py::arg("loss_per_block"), py::arg("pairs_per_block"),
      py::arg("sg"), py::arg("loss"), py::arg("negative"), py::arg("window"), py::arg("alpha"),
      py::arg("alpha_end"), py::arg("seed"), py::arg("counter"), py::arg("remove_accidental_hits"));
}
