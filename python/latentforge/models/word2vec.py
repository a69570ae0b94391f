"""word2vec: skip-gram and CBOW word embeddings trained with negative sampling or true NCE.

>>> import latentforge as lf
>>> model = lf.models.Word2Vec(corpus_file="corpus.txt.gz", min_count=5)   # doctest: +SKIP
>>> model.wv.most_similar("king", topn=3)                                  # doctest: +SKIP

The names follow gensim 4 (``Word2Vec(sentences, vector_size=..., window=..., ...)``,
``build_vocab``, ``train``, ``model.wv.most_similar``, ``evaluate_word_pairs``,
``evaluate_word_analogies``, ``save_word2vec_format``), so code written for gensim switches by
changing the import. Training runs in the native kernel ``_C.word2vec_train`` (C++/OpenMP,
Hogwild lock-free updates as word2vec.c does them); this module builds the vocabulary, feeds
the kernel jobs of token ids and decays the learning rate.

Input
-----
``sentences``: a re-iterable sequence of token lists (each token a ``str``; iterated once per
epoch, so a generator is refused), or ``corpus_file``: a text file (``.gz`` is read through
gzip) with one sentence per line and tokens separated by whitespace, in UTF-8. A corpus file is
streamed in chunks of :data:`CHUNK_BYTES` bytes, both when counting the vocabulary
(``_C.TokenCounter``) and when training (``_C.TokenEncoder``): memory is the vocabulary (its
words and counts), the vectors (``2 * V * vector_size * 4`` bytes, plus ``V * 4`` for NCE's
biases), the noise and subsampling tables (``V * 12`` bytes) and bounded buffers (one chunk and
at most four jobs of ``batch_words * workers + 10000`` token ids: the one being trained, two
read ahead and one being read), whatever the corpus length. The jobs are read and encoded by a
background thread while the kernel trains the previous one (the training is the same bit for
bit as reading between trainings; an error of the corpus is raised by ``train``).
Counting keeps every distinct word of the corpus until the end (exact counts); ``min_count``
and ``max_vocab_size`` then cut the vocabulary.

Out-of-vocabulary tokens are dropped before windowing (as word2vec.c and gensim do), and a
sentence longer than 10,000 in-vocabulary tokens is cut every 10,000 (gensim's
``MAX_WORDS_IN_BATCH``).

Vocabulary order: by count, descending; ties by the word's UTF-8 bytes, ascending (the same for
a token list and a file holding the same text).

Learning rate: decays linearly from ``alpha`` to ``min_alpha`` over ``epochs`` passes over the
in-vocabulary words of the corpus, job by job and within each job (as word2vec.c does).

Random numbers: the initial vectors come from the library's counter-based Philox generator
(``_C.uniform``) keyed by ``seed``; the kernel draws windows, subsampling coins and noise words
from Philox at ``(seed, counter)``, with ``counter`` the number of tokens of all earlier jobs of
this model, so no two tokens of a model's training share random numbers. With ``workers=1`` a
fixed ``seed`` reproduces the vectors bit for bit (on the same build). With more threads the
Hogwild updates race (a thread may read a vector another one is writing, as in word2vec.c and
gensim), so the vectors differ from run to run in their last bits, and the differences grow
with training; the quality does not change.

CUDA devices
------------
``Word2Vec(..., device="cuda")`` (or ``"cuda:N"``) trains with the vectors on a CUDA device,
in the CUDA sibling of the kernel (``_C.device.word2vec_train``, launched through
:class:`latentforge._device.Call` on CuPy's current stream). The input is text, not arrays, so
``device=None`` (the default) and ``"cpu"`` mean the host. On a device:

* the vocabulary, the subsampling and the noise tables are built on the host as above; at the
  start of each ``train`` call the vectors (``vectors_``, ``syn1_``, ``bias_``) and the tables
  are copied to the device once, and at its end (also after Ctrl-C or an error) the vectors are
  copied back into the host arrays, in place. Between the two, the only traffic is each job's
  token ids and sentence ends (host to device, one explicit copy per job) and each job's loss
  and pair count (device to host). So the model's state always lives on the host: ``wv``,
  ``most_similar``, ``save_word2vec_format``, ``save`` / ``load`` and further training (on
  either side) work as for a host model, and ``device_`` says where the last training ran. No
  device memory is held between ``train`` calls (one copy each way per call);
* the updates are word2vec.c's per-pair ones: the CUDA kernel has no batched (HogBatch)
  variant, which the host uses for skip-gram, so a skip-gram model trained on a device is not
  the host's (windows and subsampling come from the same draws; the batched variant draws its
  noise words once per centre). CBOW has one update scheme on both sides (and skip-gram with
  the host's classic updates), but the CUDA kernel sums its dot products in another order, so
  the vectors agree up to float32 rounding, which grows with training, with the same pairs;
* ``workers`` is the number of Hogwild shards of a job trained at once, one CUDA block (128
  threads sharing the vector dimension) each, as CPU threads are on the host (a job holds about
  ``batch_words * workers`` words; ``None``: :data:`DEVICE_WORKERS`). ``workers=1`` is one
  block: deterministic, the serial order of the job. More shards race like CPU threads;
* ``vector_size`` is at most 1024;
* device memory: the vectors and the tables (as on the host) and the token ids and sentence
  ends of the job being trained (the host holds the next job's meanwhile);
* the job on the device when Ctrl-C comes finishes (a kernel is not interrupted) and is
  counted; the next job is prepared on the host while the current one trains, and progress,
  words/s and the loss are read after each job.

A build without CUDA, or a machine without a CUDA device, with ``device="cuda"``: the
RuntimeError of :func:`latentforge._device.use_device`, raised before any work.
"""

from __future__ import annotations

import gzip
import math
import os
import queue
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from .. import _C, _device
from .._backend import get_num_threads
from ._base import NotFittedError, ParamsMixin, keeps_progress_on_interrupt, progress_bar
from ._params import MAX_INT, InvalidParameterError, choice_param, int_param, real_param

__all__ = ["KeyedVectors", "Word2Vec"]

#: Bytes read from a corpus file per step (counting and training).
CHUNK_BYTES = 1 << 20
#: In-vocabulary tokens after which a long sentence is cut (gensim's MAX_WORDS_IN_BATCH).
MAX_SENTENCE = 10000
#: Philox stream of the initial input vectors.
_STREAM_INIT = 11
#: Rows of unit vectors scored per GEMM in batched similarity queries (bounds the scratch
#: matrix to _QUERY_ROWS * restrict_vocab floats).
_QUERY_ROWS = 256
#: Shards of a job trained at once on a CUDA device when ``workers`` is None (CUDA blocks; a
#: job then holds about ``batch_words * DEVICE_WORKERS`` words).
DEVICE_WORKERS = 1024
#: Limits of the CUDA kernel (ops/word2vec.h, ops/word2vec_cuda.cuh), which cannot check its
#: arguments on the device: they are checked here before the vectors are uploaded.
_CUDA_MAX_D = 1024
_MAX_WINDOW = 1 << 12
_MAX_NEGATIVE = 1 << 16


# ---------------------------------------------------------------------- statistics


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularised incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    lbt = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x)
           + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(lbt) * _betacf(a, b, x) / a
    return 1.0 - math.exp(lbt) * _betacf(b, a, 1.0 - x) / b


def _corr_pvalue(r: float, n: int) -> float:
    """Two-sided p-value of a correlation ``r`` of ``n`` pairs under independence: the
    t-test with ``n - 2`` degrees of freedom (scipy's ``spearmanr``; for Pearson's r it
    equals scipy's exact beta-distribution p-value)."""
    df = n - 2
    if df <= 0 or not math.isfinite(r):
        return float("nan")
    r2 = min(r * r, 1.0)
    if r2 >= 1.0:
        return 0.0
    # P(|T| >= t) with t^2 = df r^2 / (1 - r^2) is I_{df / (df + t^2)}(df / 2, 1 / 2).
    return _betainc(0.5 * df, 0.5, 1.0 - r2)


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    x = x - x.mean()
    y = y - y.mean()
    den = math.sqrt(float(x @ x) * float(y @ y))
    return float(x @ y) / den if den > 0 else float("nan")


def _rankdata(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties given their average rank (scipy's ``rankdata``, method "average")."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ends = np.r_[starts[1:], len(xs)]
    avg = (starts + ends + 1) / 2.0  # mean of the 1-based ranks start+1 .. end
    ranks = np.empty(len(x), np.float64)
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


# ---------------------------------------------------------------------- files


def _open_binary(path: Any, what: str = "corpus_file"):
    """The file ``path`` opened for reading bytes (through gzip when it ends in ``.gz``);
    FileNotFoundError / IsADirectoryError naming ``what`` and the path."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"{what} must be a path (str or os.PathLike), got {type(path).__name__}")
    fspath = os.fspath(path)
    if isinstance(fspath, bytes):
        fspath = os.fsdecode(fspath)
    if not os.path.exists(fspath):
        raise FileNotFoundError(f"{what} {fspath!r} does not exist")
    if os.path.isdir(fspath):
        raise IsADirectoryError(f"{what} {fspath!r} is a directory, not a file")
    if fspath.endswith(".gz"):
        return gzip.open(fspath, "rb")
    return open(fspath, "rb")


def _read_chunks(path: Any, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The bytes of the file ``path`` in chunks; a damaged gzip stream is a ValueError naming
    the file."""
    with _open_binary(path) as f:
        while True:
            try:
                chunk = f.read(chunk_bytes)
            except (OSError, EOFError, gzip.BadGzipFile) as exc:
                raise ValueError(f"corpus_file {os.fspath(path)!r} cannot be read: "
                                 f"{type(exc).__name__}: {exc}") from None
            if not chunk:
                return
            yield chunk


def _write_atomic(path: Any, write) -> None:
    """Call ``write(f)`` on a binary file that atomically replaces ``path``
    (:func:`latentforge.persist.write_atomic`), gzip-compressed when ``path`` ends in ``.gz``."""
    from ..persist import write_atomic

    def body(raw) -> None:
        if os.fspath(path).endswith(".gz"):
            with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
                write(f)
        else:
            write(raw)

    write_atomic(path, body)


# ---------------------------------------------------------------------- KeyedVectors


class KeyedVectors:
    """Word vectors with their vocabulary: gensim's ``KeyedVectors`` (the ``wv`` of a model).

    Parameters
    ----------
    keys : sequence of str
        The words, in row order (most frequent first, for ``restrict_vocab`` to mean "the most
        frequent words"). Duplicates are refused.
    vectors : array-like (len(keys), vector_size)
        Converted once to C-contiguous float32 (a float32 C-contiguous array is used as is,
        not copied: a model's ``wv`` shares its training array).

    Attributes
    ----------
    index_to_key : list of str
    key_to_index : dict str -> int
    vectors : ndarray (n_words, vector_size), float32

    Similarities are cosines. Unit vectors are computed once and kept until :meth:`fill_norms`
    is called with ``force=True`` (a model does it after training); a vector of norm zero has
    cosine 0 with everything (gensim divides by zero there).
    """

    def __init__(self, keys: Iterable[str] = (), vectors: Any = None):
        keys = list(keys)
        for i, k in enumerate(keys):
            if not isinstance(k, str):
                raise TypeError(f"keys must be strings; keys[{i}] is a {type(k).__name__}")
        if vectors is None:
            if keys:
                raise ValueError("vectors is required when keys are given")
            vectors = np.zeros((0, 0), np.float32)
        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or vectors.shape[0] != len(keys):
            raise ValueError(f"vectors must be 2-D with one row per key ({len(keys)}), got "
                             f"shape {vectors.shape}")
        if vectors.dtype.kind not in "fiu":
            raise TypeError(f"vectors must be a real array, got dtype {vectors.dtype}")
        if not (vectors.dtype == np.float32 and vectors.flags.c_contiguous
                and vectors.flags.aligned and vectors.dtype.isnative):
            vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.vectors = vectors
        self.index_to_key = keys
        self.key_to_index = {k: i for i, k in enumerate(keys)}
        if len(self.key_to_index) != len(keys):
            seen: set[str] = set()
            dup = next(k for k in keys if k in seen or seen.add(k))
            raise ValueError(f"keys must be unique; {dup!r} appears twice")
        self.norms: np.ndarray | None = None
        self._unit: np.ndarray | None = None

    # ------------------------------------------------------------------ container protocol

    @property
    def vector_size(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.index_to_key)

    def __contains__(self, key: Any) -> bool:
        try:
            return key in self.key_to_index
        except TypeError:  # unhashable
            return False

    def __repr__(self) -> str:
        return f"KeyedVectors<{len(self)} keys, vector_size={self.vector_size}>"

    def get_index(self, key: Any, default: int | None = None) -> int:
        """The row of ``key`` (a word, or an int row number as gensim accepts); ``default``
        when absent, else KeyError naming the key."""
        i = self.key_to_index.get(key, -1) if isinstance(key, str) else -1
        if i >= 0:
            return i
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool) \
                and 0 <= key < len(self):
            return int(key)
        if default is not None:
            return default
        raise KeyError(f"Key '{key}' not present in vocabulary")

    def fill_norms(self, force: bool = False) -> None:
        """Compute ``norms`` and the unit vectors (again with ``force``, after the vectors
        changed)."""
        if self.norms is None or self._unit is None or force:
            norms = np.linalg.norm(self.vectors, axis=1)
            safe = np.where(norms > 0, norms, np.float32(1)).astype(np.float32)
            self._unit = self.vectors / safe[:, None]
            self.norms = norms

    def get_normed_vectors(self) -> np.ndarray:
        """All vectors scaled to unit length (a zero vector stays zero)."""
        self.fill_norms()
        return self._unit

    def get_vector(self, key: Any, norm: bool = False) -> np.ndarray:
        """The vector of ``key`` (unit length with ``norm``), read-only; KeyError when the
        word is not in the vocabulary."""
        i = self.get_index(key)
        if norm:
            self.fill_norms()
            v = self._unit[i]
        else:
            v = self.vectors[i]
        v = v.view()
        v.setflags(write=False)
        return v

    def __getitem__(self, key_or_keys: Any) -> np.ndarray:
        """The vector of a word (1-D), or of a list of words (2-D, one row each)."""
        if isinstance(key_or_keys, (str, int, np.integer)):
            return self.get_vector(key_or_keys)
        return np.vstack([self.get_vector(k) for k in key_or_keys]) if len(key_or_keys) \
            else np.zeros((0, self.vector_size), np.float32)

    # ------------------------------------------------------------------ similarity

    def similarity(self, w1: Any, w2: Any) -> float:
        """Cosine similarity of two words."""
        self.fill_norms()
        a, b = self._unit[self.get_index(w1)], self._unit[self.get_index(w2)]
        return float(np.dot(a, b))

    def _scores(self, Q: np.ndarray, clip: int) -> np.ndarray:
        """Cosines of the unit rows ``Q`` (n, D) with the first ``clip`` words: one GEMM."""
        from .. import ops

        self.fill_norms()
        U = self._unit[:clip]
        return ops.gemm(np.ascontiguousarray(Q, dtype=np.float32), U, trans_b=True)

    @staticmethod
    def _top(scores: np.ndarray, k: int) -> np.ndarray:
        """Indices of the ``k`` largest scores, best first (ties: lower index first)."""
        n = scores.shape[0]
        k = min(k, n)
        if k <= 0:
            return np.zeros(0, np.int64)
        part = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
        return part[np.lexsort((part, -scores[part]))]

    def _query(self, positive: Any, negative: Any) -> tuple[np.ndarray, list[int]]:
        """gensim's weighted mean of unit vectors (raw vectors for ndarray entries),
        normalised; and the rows of the input words."""
        def as_list(v):
            if v is None:
                return []
            if isinstance(v, (str, int, np.integer)) or (isinstance(v, np.ndarray)
                                                         and v.ndim == 1):
                return [v]
            if isinstance(v, np.ndarray) and v.ndim == 2:
                return list(v)
            return list(v)

        positive, negative = as_list(positive), as_list(negative)
        items = [(x, 1.0) for x in positive] + [(x, -1.0) for x in negative]
        if not items:
            raise ValueError("cannot compute similarity with no input: give positive and/or "
                             "negative words")
        self.fill_norms()
        mean = np.zeros(self.vector_size, np.float64)
        total = 0.0
        rows: list[int] = []
        for x, w in items:
            if isinstance(x, tuple) and len(x) == 2 and not isinstance(x[0], tuple):
                x, w = x[0], float(x[1])
            if isinstance(x, np.ndarray):
                v = np.asarray(x, np.float64)
                if v.shape != (self.vector_size,):
                    raise ValueError(f"a vector given to most_similar must have shape "
                                     f"({self.vector_size},), got {v.shape}")
                mean += w * v
            else:
                if not isinstance(x, (str, int, np.integer)):
                    raise TypeError(f"most_similar takes words (str), rows (int), vectors or "
                                    f"(word, weight) pairs; got {type(x).__name__}")
                i = self.get_index(x)
                rows.append(i)
                mean += w * self._unit[i].astype(np.float64)
            total += abs(w)
        if total > 0:
            mean /= total
        n = np.linalg.norm(mean)
        if n > 0:
            mean /= n
        return mean.astype(np.float32), rows

    def most_similar(self, positive: Any = None, negative: Any = None, topn: int | None = 10,
                     restrict_vocab: int | None = None) -> Any:
        """The ``topn`` words nearest (cosine) to the mean of the unit vectors of
        ``positive`` minus those of ``negative``, as gensim computes it: each entry is a
        word, a row number, a raw vector, or a ``(word, weight)`` pair; the mean is weighted
        (+1 / -1 by default), divided by the sum of the absolute weights and normalised. The
        input words are never returned. ``restrict_vocab``: search only the first that many
        words (the most frequent). ``topn=None``: the array of all cosines.

        Raises KeyError naming a word that is not in the vocabulary."""
        if isinstance(topn, (int, np.integer)) and not isinstance(topn, bool) and topn < 1:
            return []
        mean, rows = self._query(positive, negative)
        clip = len(self) if not restrict_vocab else min(int(restrict_vocab), len(self))
        scores = self._scores(mean[None, :], clip)[0]
        if topn is None:
            return scores
        exclude = set(rows)
        best = self._top(scores, int(topn) + len(rows))
        return [(self.index_to_key[i], float(scores[i])) for i in best
                if i not in exclude][:int(topn)]

    def similar_by_word(self, word: str, topn: int | None = 10,
                        restrict_vocab: int | None = None) -> Any:
        return self.most_similar(positive=[word], topn=topn, restrict_vocab=restrict_vocab)

    similar_by_key = similar_by_word

    def similar_by_vector(self, vector: Any, topn: int | None = 10,
                          restrict_vocab: int | None = None) -> Any:
        return self.most_similar(positive=[np.asarray(vector)], topn=topn,
                                 restrict_vocab=restrict_vocab)

    # ------------------------------------------------------------------ evaluation

    def _ok_vocab(self, restrict_vocab: int | None, case_insensitive: bool) -> dict[str, int]:
        """Word (upper-cased when case_insensitive) -> row, over the first restrict_vocab
        words; of several case variants the first (most frequent) wins, as in gensim."""
        keys = self.index_to_key[:restrict_vocab]
        ok: dict[str, int] = {}
        for i, k in enumerate(keys):
            ok.setdefault(k.upper() if case_insensitive else k, i)
        return ok

    def evaluate_word_pairs(self, pairs: Any, delimiter: str = "\t", encoding: str = "utf8",
                            restrict_vocab: int | None = 300000, case_insensitive: bool = True,
                            dummy4unknown: bool = False):
        """Correlation of the cosines with human similarity judgements, as gensim's method
        of that name: ``pairs`` is a file of ``word1<delimiter>word2<delimiter>score`` lines
        (``#`` lines are comments, malformed lines are skipped); a pair with a word outside
        the first ``restrict_vocab`` words is skipped (or scored 0 with ``dummy4unknown``).

        Returns ``((pearson_r, p), (spearman_rho, p), oov_percent)``: two-sided p-values of
        the t-test, and the percentage of pairs with an unknown word (of all pairs read; of
        the scored ones with ``dummy4unknown``, as gensim computes it)."""
        ok = self._ok_vocab(restrict_vocab, case_insensitive)
        self.fill_norms()
        gold: list[float] = []
        model: list[float] = []
        oov = 0
        with open(os.fspath(pairs), encoding=encoding) as fin:
            for line in fin:
                if not line or line.startswith("#"):
                    continue
                fields = line.split(delimiter)
                if case_insensitive:
                    fields = [f.upper() for f in fields]
                try:
                    a, b, sim = fields
                    sim = float(sim)
                except (ValueError, TypeError):
                    continue
                if a not in ok or b not in ok:
                    oov += 1
                    if dummy4unknown:
                        gold.append(sim)
                        model.append(0.0)
                    continue
                gold.append(sim)
                model.append(float(np.dot(self._unit[ok[a]], self._unit[ok[b]])))
        if not gold:
            raise ValueError(f"no valid similarity judgements found in {os.fspath(pairs)}: "
                             "either invalid format or all are out-of-vocabulary")
        g, m = np.asarray(gold, np.float64), np.asarray(model, np.float64)
        r = _pearson(g, m)
        rho = _pearson(_rankdata(g), _rankdata(m))
        n = len(gold)
        oov_ratio = 100.0 * oov / (n if dummy4unknown else n + oov)
        return (r, _corr_pvalue(r, n)), (rho, _corr_pvalue(rho, n)), oov_ratio

    def evaluate_word_analogies(self, analogies: Any, restrict_vocab: int | None = 300000,
                                case_insensitive: bool = True, dummy4unknown: bool = False):
        """Accuracy on an analogy file (``questions-words.txt``: ``: section`` lines, then
        ``a b c d`` lines asking "a is to b as c is to ?"), as gensim's method of that name
        (3CosAdd): the answer is the word, among the first ``restrict_vocab``, most similar to
        ``b + c - a`` (unit vectors), skipping a, b and c; it is looked for among the 5
        nearest. A question with a word outside the first ``restrict_vocab`` words is skipped
        (or counted wrong with ``dummy4unknown``). All questions are scored together, a few
        hundred per GEMM.

        Returns ``(score, sections)``: the overall accuracy, and per section (then a last
        "Total accuracy" one) a dict with ``"section"``, ``"correct"`` and ``"incorrect"``
        lists of the (upper-cased when ``case_insensitive``) word 4-tuples."""
        ok = self._ok_vocab(restrict_vocab, case_insensitive)
        path = os.fspath(analogies)
        # Per section: its name and its questions in file order, each with its question
        # number in ``pending`` (to be scored) or -1 (unknown word, counted wrong).
        parsed: list[tuple[str, list[tuple[tuple[str, ...], int]]]] = []
        pending: list[tuple[str, ...]] = []
        quadruplets = 0
        with open(path, "rb") as fin:
            for line_no, raw in enumerate(fin):
                line = raw.decode("utf-8")
                if line.startswith(": "):
                    parsed.append((line.lstrip(": ").strip(), []))
                    continue
                if not parsed:
                    raise ValueError(f"Missing section header before line #{line_no} in {path}")
                words = line.split()
                if case_insensitive:
                    words = [w.upper() for w in words]
                if len(words) != 4:
                    continue
                quadruplets += 1
                q = tuple(words)
                if any(w not in ok for w in q):
                    if dummy4unknown:
                        parsed[-1][1].append((q, -1))
                    continue
                parsed[-1][1].append((q, len(pending)))
                pending.append(q)
        if quadruplets == 0:
            raise ValueError(f"no analogy questions found in {path}")
        clip = len(self) if not restrict_vocab else min(int(restrict_vocab), len(self))
        self.fill_norms()
        U = self._unit
        keys = [k.upper() for k in self.index_to_key[:clip]] if case_insensitive \
            else self.index_to_key[:clip]
        right = np.zeros(len(pending), bool)
        for start in range(0, len(pending), _QUERY_ROWS):
            batch = pending[start:start + _QUERY_ROWS]
            idx = np.array([[ok[w] for w in q[:3]] for q in batch], np.int64)
            mean = (U[idx[:, 1]] + U[idx[:, 2]]) - U[idx[:, 0]]
            mean = mean.astype(np.float64) / 3.0
            norm = np.linalg.norm(mean, axis=1, keepdims=True)
            mean = (mean / np.where(norm > 0, norm, 1.0)).astype(np.float32)
            scores = self._scores(mean, clip)
            for j, q in enumerate(batch):
                rows = set(idx[j].tolist())
                best = [i for i in self._top(scores[j], 5 + 3) if i not in rows][:5]
                ignore = set(q[:3])
                predicted = None
                for i in best:
                    predicted = keys[i]
                    if predicted not in ignore:
                        break
                right[start + j] = predicted == q[3]
        sections: list[dict[str, Any]] = [
            {"section": name,
             "correct": [q for q, n in qs if n >= 0 and right[n]],
             "incorrect": [q for q, n in qs if n < 0 or not right[n]]}
            for name, qs in parsed]
        total = {"section": "Total accuracy",
                 "correct": [q for s in sections for q in s["correct"]],
                 "incorrect": [q for s in sections for q in s["incorrect"]]}
        sections.append(total)
        c, w = len(total["correct"]), len(total["incorrect"])
        return (c / (c + w) if c + w else 0.0), sections

    # ------------------------------------------------------------------ word2vec.c formats

    def save_word2vec_format(self, fname: Any, binary: bool = False) -> None:
        """Write the vectors in word2vec.c's format (gensim reads it): a header line
        ``"<n_words> <vector_size>"``, then per word, in row order, the word, a space and the
        vector -- as text (``%.9g`` values, which read back bit for bit, separated by spaces)
        or, with ``binary``, as ``vector_size`` little-endian float32 -- and a newline.
        Written atomically; gzip-compressed when ``fname`` ends in ``.gz``."""
        for i, k in enumerate(self.index_to_key):
            if not k or any(c.isspace() for c in k):
                raise ValueError(f"word {k!r} (row {i}) is empty or contains whitespace: the "
                                 "word2vec format separates words from vectors by a space")
        V, D = self.vectors.shape
        vec = self.vectors.astype("<f4", copy=False)

        def write(f):
            f.write(f"{V} {D}\n".encode())
            buf = []
            if binary:
                for k, row in zip(self.index_to_key, vec):
                    buf.append(k.encode("utf-8") + b" " + row.tobytes() + b"\n")
                    if len(buf) >= 4096:
                        f.write(b"".join(buf))
                        buf.clear()
            else:
                fmt = " ".join(["%.9g"] * D)
                for k, row in zip(self.index_to_key, vec.tolist()):
                    buf.append(f"{k} {fmt % tuple(row)}\n" if D else f"{k}\n")
                    if len(buf) >= 4096:
                        f.write("".join(buf).encode("utf-8"))
                        buf.clear()
            if buf:
                f.write(b"".join(buf) if binary else "".join(buf).encode("utf-8"))

        _write_atomic(fname, write)

    @classmethod
    def load_word2vec_format(cls, fname: Any, binary: bool = False,
                             limit: int | None = None) -> KeyedVectors:
        """Read vectors in word2vec.c's text or binary format (as written by word2vec.c,
        gensim or :meth:`save_word2vec_format`; ``.gz`` files are decompressed). ``limit``:
        read only the first that many words. A repeated word keeps its first vector (with a
        warning, as gensim). A truncated or malformed file is a ValueError naming the file
        and the line."""
        path = os.fspath(fname)
        with _open_binary(fname, "fname") as f:
            header = f.readline()
            try:
                V, D = (int(x) for x in header.split())
                if V < 0 or D < 0:
                    raise ValueError
            except ValueError:
                raise ValueError(f"{path}: not a word2vec file: the first line must be "
                                 f"'<n_words> <vector_size>', got {header[:60]!r}") from None
            if limit is not None:
                V = min(V, int(limit))
            keys: list[str] = []
            out = np.empty((V, D), np.float32)
            if binary:
                nbytes = 4 * D
                buf = b""
                pos = 0
                eof = False
                for n in range(V):
                    while True:
                        sp = buf.find(b" ", pos)
                        if sp >= 0 and len(buf) - sp - 1 >= nbytes:
                            break
                        if eof:
                            raise ValueError(f"{path}: truncated: {n} of the {V} vectors the "
                                             "header announces were read")
                        more = f.read(CHUNK_BYTES)
                        eof = not more
                        buf = buf[pos:] + more
                        pos = 0
                    word = buf[pos:sp].lstrip(b"\n").decode("utf-8")
                    keys.append(word)
                    out[n] = np.frombuffer(buf, "<f4", D, sp + 1)
                    pos = sp + 1 + nbytes
            else:
                for n in range(V):
                    line = f.readline()
                    if not line:
                        raise ValueError(f"{path}: truncated: {n} of the {V} vectors the "
                                         "header announces were read")
                    parts = line.decode("utf-8").rstrip().split(" ")
                    if len(parts) != D + 1:
                        raise ValueError(f"{path}: line {n + 2} has {len(parts) - 1} values, "
                                         f"the header says {D}")
                    keys.append(parts[0])
                    try:
                        out[n] = np.array(parts[1:], dtype=np.float32)
                    except ValueError:
                        raise ValueError(f"{path}: line {n + 2}: a value is not a number") \
                            from None
        seen: dict[str, int] = {}
        rows = []
        for i, k in enumerate(keys):
            if k in seen:
                warnings.warn(f"duplicate word {k!r} in {path}: keeping its first vector",
                              stacklevel=2)
                continue
            seen[k] = i
            rows.append(i)
        if len(rows) != len(keys):
            out = out[rows]
            keys = [keys[i] for i in rows]
        return cls(keys, out)


# ---------------------------------------------------------------------- corpus helpers


def _check_iterable(sentences: Any, name: str) -> None:
    if isinstance(sentences, (str, bytes)):
        raise TypeError(f"{name} must be an iterable of token lists (e.g. [['a', 'b'], ...]), "
                        f"got a {type(sentences).__name__}; for a file pass corpus_file=")
    try:
        it = iter(sentences)
    except TypeError:
        raise TypeError(f"{name} must be an iterable of token lists, got "
                        f"{type(sentences).__name__}") from None
    if it is sentences:
        raise TypeError(f"{name} must be re-iterable (it is read once per epoch): pass a list "
                        "or another sequence, not a generator or iterator")


def _sentences(sentences: Any, name: str) -> Iterator[list[str]]:
    """The token lists of ``sentences``, checked: TypeError naming the sentence and token
    that is not a str."""
    for si, sent in enumerate(sentences):
        if isinstance(sent, (str, bytes)) or not isinstance(sent, Iterable):
            raise TypeError(f"{name}[{si}] must be a list of str tokens, got a "
                            f"{type(sent).__name__} ({name} is an iterable of token lists)")
        sent = list(sent)
        for ti, tok in enumerate(sent):
            if type(tok) is not str and not isinstance(tok, str):
                raise TypeError(f"{name}[{si}][{ti}] is a {type(tok).__name__} ({tok!r}): "
                                "tokens must be str")
        yield sent


def _sort_vocab(counts: dict[str, int], min_count: int) -> tuple[list[str], np.ndarray]:
    """Words with count >= min_count, by count descending, ties by UTF-8 bytes ascending
    (the order of ``_C.TokenCounter.items``)."""
    kept = [(w, c) for w, c in counts.items() if c >= min_count]
    kept.sort(key=lambda wc: (-wc[1], wc[0].encode("utf-8", "surrogatepass")))
    return [w for w, _ in kept], np.array([c for _, c in kept], np.int64)


class _Jobs:
    """Cuts a stream of (ids, sentence ends) pieces into jobs of at least ``job_words`` ids
    (ending at a sentence end; a sentence is at most MAX_SENTENCE ids, so a job holds fewer
    than ``job_words + MAX_SENTENCE``)."""

    def __init__(self, job_words: int):
        self.job_words = job_words
        self.ids: list[np.ndarray] = []
        self.ends: list[np.ndarray] = []
        self.n = 0

    def add(self, ids: np.ndarray, ends: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if len(ids) == 0:
            return
        self.ids.append(ids)
        self.ends.append(ends + self.n)
        self.n += len(ids)
        if self.n < self.job_words:
            return
        all_ids = np.concatenate(self.ids)
        all_ends = np.concatenate(self.ends)
        start, k0 = 0, 0
        while self.n - start >= self.job_words:
            k = int(np.searchsorted(all_ends, start + self.job_words, side="left"))
            end = int(all_ends[k])
            yield (np.ascontiguousarray(all_ids[start:end], dtype=np.int32),
                   np.ascontiguousarray(all_ends[k0:k + 1] - start, dtype=np.int64))
            start, k0 = end, k + 1
        self.ids = [all_ids[start:]] if start < self.n else []
        self.ends = [all_ends[k0:] - start] if start < self.n else []
        self.n -= start

    def flush(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if self.n:
            yield (np.ascontiguousarray(np.concatenate(self.ids), dtype=np.int32),
                   np.ascontiguousarray(np.concatenate(self.ends), dtype=np.int64))
        self.ids, self.ends, self.n = [], [], 0


def _bool_param(v: Any, name: str) -> bool:
    if isinstance(v, (bool, np.bool_)) or (isinstance(v, (int, np.integer)) and v in (0, 1)):
        return bool(v)
    raise InvalidParameterError(f"{name} must be a bool (or 0 / 1), got {v!r}")


#: Jobs read and encoded ahead of the one being trained (by ``_ReadAhead``'s thread; 0: none,
#: the jobs are read between the trainings).
_READ_AHEAD = 2


class _ReadAhead:
    """Iterates ``jobs`` (a generator of training jobs) in a background thread, at most
    ``depth`` jobs ahead, so that reading and encoding the next job overlaps the training of
    this one: the kernel and the encoder release the GIL, and the reading would otherwise leave
    every training thread idle between jobs (6-16% of the wall time, issue 12). The jobs come
    out in the generator's order (the training is unchanged bit for bit); an exception of the
    generator is raised by ``__next__`` in the caller's thread, where the job would have been
    read. ``close`` stops the thread (and closes the generator, which closes its file)."""

    _END = object()
    #: The name of the reader thread (the tests look for it).
    THREAD_NAME = "latentforge-word2vec-reader"

    def __init__(self, jobs: Iterator[Any], depth: int = _READ_AHEAD):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._run, args=(jobs,), daemon=True,
                                        name=self.THREAD_NAME)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, jobs: Iterator[Any]) -> None:
        error: BaseException | None = None
        try:
            for job in jobs:
                if not self._put((job, None)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer's thread
            error = exc
        finally:
            jobs.close()
        self._put((self._END, error))

    def __iter__(self) -> _ReadAhead:
        return self

    def __next__(self) -> Any:
        if self._done:
            raise StopIteration
        job, error = self._queue.get()
        if job is self._END:
            self._done = True
            self._thread.join()
            if error is not None:
                raise error
            raise StopIteration
        return job

    def close(self) -> None:
        self._done = True
        self._stop.set()
        self._thread.join()


#: The kernel variant used: True, the HogBatch/pWord2Vec minibatched updates (negatives shared
#: across a window, small GEMMs); False, word2vec.c's per-pair updates.
_BATCHED = True

#: Parameters of ``__init__`` that are data, not hyper-parameters (``get_params`` leaves them out).
_DATA_ARGS = ("sentences", "corpus_file")


class _DeviceTrainer:
    """One ``train`` call on a CUDA device: the device copies of the vectors and tables
    (uploaded once, here), a launch of ``_C.device.word2vec_train`` per job, and the copy of the
    vectors back into the model's host arrays at the end (:meth:`download`)."""

    def __init__(self, model: Word2Vec, index: int | None, prob: Any, alias: Any, logq: Any,
                 blocks: int, kwargs: dict[str, Any]):
        def up(a, name):
            return None if a is None else _device.to_device(a, "cuda", index, name)

        self.model, self.index, self.blocks, self.kwargs = model, index, blocks, kwargs
        self.syn0 = up(model.vectors_, "vectors_")
        self.syn1 = up(model.syn1_, "syn1_")
        self.bias = up(model.bias_, "bias_")
        self.keep = up(model.keep_prob_, "keep_prob_")
        self.prob, self.alias, self.logq = up(prob, "noise_prob"), up(alias, "noise_alias"), \
            up(logq, "noise_logq")
        self.device = _device.device_of(self.syn0)

    def launch(self, ids: np.ndarray, ends: np.ndarray, alpha: float, alpha_end: float,
               counter: int) -> tuple:
        """Enqueue the training of one job (host ids / sentence ends, copied to the device
        here); returns the pending result for :meth:`collect` (which keeps the job's device
        arrays alive until then)."""
        d_ids = _device.to_device(ids, "cuda", self.index, "ids")
        d_ends = _device.to_device(ends, "cuda", self.index, "sent_ends")
        call = _device.Call("Word2Vec.train", syn0=self.syn0, syn1=self.syn1, bias=self.bias,
                            keep_prob=self.keep, noise_prob=self.prob, noise_logq=self.logq)
        loss = call.zeros((self.blocks,), np.float64)  # per shard (slots past S stay 0)
        pairs = call.zeros((self.blocks,), np.int64)
        V, D = self.syn0.shape
        k = self.kwargs

        def p(a):
            return 0 if a is None else _device.ptr(a)

        call.launch(_C.device.word2vec_train, p(self.syn0), p(self.syn1), p(self.bias), p(d_ids),
                    len(ids), p(d_ends), len(ends), p(self.keep), p(self.prob), p(self.alias),
                    p(self.logq), V, D, self.blocks, p(loss), p(pairs), k["sg"], k["loss"],
                    k["negative"], k["window"], alpha, alpha_end, k["seed"], counter,
                    k["remove_accidental_hits"])
        return loss, pairs, len(ids), d_ids, d_ends

    @staticmethod
    def collect(pending: tuple) -> tuple[float, int, int]:
        """(loss_sum, words, pairs) of a launched job, as the host kernel returns them (waits
        for the job: its per-shard sums are copied to the host)."""
        loss, pairs, n = pending[:3]
        return (float(_device.to_device(loss, "cpu", name="loss").sum()), n,
                int(_device.to_device(pairs, "cpu", name="pairs").sum()))

    def download(self) -> None:
        """The trained vectors copied back into the model's host arrays, in place (so ``wv``
        and every other view of them see the training)."""
        m = self.model
        m.vectors_[...] = _device.to_device(self.syn0, "cpu", name="vectors_")
        m.syn1_[...] = _device.to_device(self.syn1, "cpu", name="syn1_")
        if self.bias is not None:
            m.bias_[...] = _device.to_device(self.bias, "cpu", name="bias_")


# ---------------------------------------------------------------------- Word2Vec


class Word2Vec(ParamsMixin):
    """word2vec (Mikolov et al. 2013): skip-gram or CBOW embeddings trained by negative
    sampling or noise-contrastive estimation, with gensim 4's names.

    Parameters
    ----------
    sentences : iterable of list of str, optional
        A re-iterable corpus of token lists. When given (or ``corpus_file``), the model is
        trained at once, as gensim's constructor does (``build_vocab`` then ``train``).
    corpus_file : str or os.PathLike, optional
        A text file (``.gz`` read through gzip), one sentence per line, whitespace between
        tokens, streamed (see the module docstring).
    vector_size : int
        Dimension of the word vectors.
    window : int
        Largest distance between the centre word and a context word; each centre word draws
        its effective window uniformly in ``1..window`` (word2vec.c's dynamic window).
    min_count : int
        Words occurring fewer times are dropped from the vocabulary.
    max_vocab_size : int or None
        Keep at most this many words (the most frequent; ties by the vocabulary order).
        Counting is exact first: unlike gensim, whose limit prunes during counting to bound
        its memory, the surviving counts are not approximate.
    sg : {1, 0}
        1: skip-gram; 0: CBOW, which predicts the centre word from the mean of its context
        vectors (gensim's default ``cbow_mean=1``; the mean keeps the step size independent
        of the window width).
    loss : {"negative", "nce"}
        "negative": word2vec.c's negative sampling (``negative`` noise words per pair, label
        1 for the true word, 0 for the noise). "nce": noise-contrastive estimation as
        TensorFlow's ``nce_loss``: logits ``u_w . v + b_w - log(k q(w))`` with output biases
        ``b`` and the noise distribution ``q``.
    negative : int
        Noise words per (centre, context) pair (k), at least 1.
    ns_exponent : float
        The unigram noise distribution is ``count ** ns_exponent``, normalised.
    noise : {"unigram", "log_uniform"}
        Noise distribution: the unigram^ns_exponent one (through an alias table), or
        TensorFlow's log-uniform (Zipfian) sampler over the frequency-sorted ids,
        ``q(k) = log((k + 2) / (k + 1)) / log(V + 1)``.
    remove_accidental_hits : bool
        NCE: noise draws equal to the true word get no gradient.
    sample : float
        Frequent-word subsampling threshold t (word2vec.c): a word of frequency f is kept
        with probability ``min(1, (sqrt(f / t) + 1) * t / f)``; 0 disables.
    alpha, min_alpha : float
        Learning rate, decayed linearly from ``alpha`` to ``min_alpha`` over the training.
    epochs : int
        Passes over the corpus.
    batch_words : int
        Words each thread trains on per native call (a job holds about
        ``batch_words * workers`` in-vocabulary words, whole sentences).
    workers : int or None
        Threads; None: the library's thread count (``lf.get_num_threads()``). On a CUDA
        device: Hogwild shards trained at once (CUDA blocks); None: :data:`DEVICE_WORKERS`.
    seed : int
        Seed of every random number of the model (initial vectors, windows, subsampling,
        noise words): see the module docstring for reproducibility.
    verbose : int
        Non-zero: a progress bar with words/s on a terminal, one line per epoch otherwise.
    device : None, "cpu", "cuda" or "cuda:N"
        Where ``train`` runs: None or "cpu", the host; "cuda" (the current CUDA device) or
        "cuda:N", with the vectors on that device during training (see "CUDA devices" in the
        module docstring: the model's arrays stay host arrays, copied there and back once per
        ``train`` call). Needs CuPy and a CUDA build and device (RuntimeError otherwise).

    Attributes
    ----------
    wv : KeyedVectors
        The input vectors with the vocabulary (shares ``vectors_``).
    index_to_key_ : list of str
        The vocabulary, most frequent first.
    counts_ : ndarray (V,), int64
    vectors_, syn1_ : ndarray (V, vector_size), float32
        Input and output vectors (``syn1neg`` in gensim).
    bias_ : ndarray (V,), float32, or None
        Output biases (NCE only).
    keep_prob_ : ndarray (V,), float32
        Subsampling keep probabilities.
    corpus_count_, corpus_total_words_ : int
        Non-empty sentences and tokens (out-of-vocabulary ones included) counted by
        ``build_vocab``; ``train_words_``: in-vocabulary tokens of that corpus (one epoch).
    epochs_trained_, words_trained_ : int
    history_ : dict
        Per epoch: ``"loss"`` (mean sigmoid cross-entropy per trained pair), ``"seconds"``
        and ``"words_per_s"`` (in-vocabulary words per second, before subsampling).
    interrupted_ : bool
        True when the last training was stopped by Ctrl-C (KeyboardInterrupt).
    device_ : str or None
        Where the last ``train`` ran: "cpu" or "cuda:N" (None before any training). The
        arrays above are host arrays either way.

    Notes
    -----
    Ctrl-C during training raises KeyboardInterrupt and leaves a usable model: the vectors
    as trained so far (every finished job, and the updates the interrupted job made),
    ``words_trained_`` and ``epochs_trained_`` up to date and ``interrupted_`` set. (Other
    latentforge models put their previous state back instead; a word2vec run is long, and
    its vectors are valid at every point.)
    On a CUDA device the job being trained finishes, is counted, and the vectors are copied
    back to the host arrays before the KeyboardInterrupt propagates.
    """

    __slots__ = ("_wv_cache",)

    def __init__(self, sentences: Any = None, corpus_file: Any = None, vector_size: int = 100,
                 window: int = 5, min_count: int = 5, max_vocab_size: int | None = None,
                 sg: int = 1, loss: str = "negative", negative: int = 5,
                 ns_exponent: float = 0.75, noise: str = "unigram",
                 remove_accidental_hits: bool = True, sample: float = 1e-3,
                 alpha: float = 0.025, min_alpha: float = 1e-4, epochs: int = 5,
                 batch_words: int = 10000, workers: int | None = None, seed: int = 0,
                 verbose: int = 0, device: str | None = None):
        self.vector_size = vector_size
        self.window = window
        self.min_count = min_count
        self.max_vocab_size = max_vocab_size
        self.sg = sg
        self.loss = loss
        self.negative = negative
        self.ns_exponent = ns_exponent
        self.noise = noise
        self.remove_accidental_hits = remove_accidental_hits
        self.sample = sample
        self.alpha = alpha
        self.min_alpha = min_alpha
        self.epochs = epochs
        self.batch_words = batch_words
        self.workers = workers
        self.seed = seed
        self.verbose = verbose
        self.device = device
        if sentences is not None or corpus_file is not None:
            self.fit(sentences, corpus_file=corpus_file)

    # ------------------------------------------------------------------ plumbing

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The hyper-parameters (``sentences`` and ``corpus_file`` are data, not kept)."""
        import inspect

        names = [n for n in inspect.signature(type(self).__init__).parameters
                 if n != "self" and n not in _DATA_ARGS]
        return {n: getattr(self, n) for n in names}

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__)  # the KeyedVectors cache (a slot) is rebuilt on demand

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    @classmethod
    def load(cls, path: Any) -> Word2Vec:
        """The model saved at ``path`` by :meth:`save` (checksums verified; a truncated,
        damaged or foreign file is a :class:`latentforge.persist.FormatError`)."""
        from ..persist import load

        return load(path, cls)

    def _validate_params(self) -> None:
        int_param(self.vector_size, "vector_size")
        int_param(self.window, "window")
        int_param(self.min_count, "min_count")
        if self.max_vocab_size is not None:
            int_param(self.max_vocab_size, "max_vocab_size")
        if _bool_param(self.sg, "sg") not in (True, False):  # pragma: no cover
            raise InvalidParameterError("sg must be 0 or 1")
        choice_param(self.loss, "loss", ("negative", "nce"))
        if not (isinstance(self.negative, (int, np.integer))
                and not isinstance(self.negative, bool) and self.negative >= 1):
            raise InvalidParameterError(
                f"negative must be an int >= 1 with loss={self.loss!r} (the number of noise "
                f"words per pair; hierarchical softmax is not implemented), got "
                f"{self.negative!r}")
        int_param(self.negative, "negative")
        real_param(self.ns_exponent, "ns_exponent", limit=100.0)
        choice_param(self.noise, "noise", ("unigram", "log_uniform"))
        _bool_param(self.remove_accidental_hits, "remove_accidental_hits")
        real_param(self.sample, "sample", low=0)
        real_param(self.alpha, "alpha", low=0, low_open=True)
        real_param(self.min_alpha, "min_alpha", low=0)
        int_param(self.epochs, "epochs")
        int_param(self.batch_words, "batch_words", high=MAX_INT // 1024)
        if self.workers is not None:
            int_param(self.workers, "workers", high=1024)
        int_param(self.seed, "seed", low=0, high=2**63 - 1)
        if not isinstance(self.verbose, (bool, int, np.integer)):
            raise InvalidParameterError(f"verbose must be an int or bool, got {self.verbose!r}")
        _device.parse_device(self.device, "device")

    def _check_built(self) -> None:
        if "vectors_" not in self.__dict__:
            raise NotFittedError(f"this {type(self).__name__} has no vocabulary yet; call "
                                 "build_vocab (or fit) first")

    @property
    def wv(self) -> KeyedVectors:
        """The trained word vectors (a :class:`KeyedVectors` sharing ``vectors_``)."""
        self._check_built()
        kv = getattr(self, "_wv_cache", None)
        if kv is None or kv.vectors is not self.vectors_ or kv._src is not self.index_to_key_:
            kv = KeyedVectors(self.index_to_key_, self.vectors_)
            kv._src = self.index_to_key_
            self._wv_cache = kv
        return kv

    @property
    def syn1neg(self) -> np.ndarray:
        """gensim's name of the output vectors (``syn1_``)."""
        self._check_built()
        return self.syn1_

    @property
    def corpus_count(self) -> int:
        self._check_built()
        return self.corpus_count_

    @property
    def corpus_total_words(self) -> int:
        self._check_built()
        return self.corpus_total_words_

    def _forget_norms(self) -> None:
        kv = getattr(self, "_wv_cache", None)
        if kv is not None:
            kv.norms = None
            kv._unit = None

    @staticmethod
    def _corpus_args(corpus_iterable: Any, corpus_file: Any, what: str) -> None:
        if (corpus_iterable is None) == (corpus_file is None):
            raise ValueError(f"{what} needs exactly one of corpus_iterable (token lists) and "
                             "corpus_file (a text file path)"
                             + ("; both were given" if corpus_iterable is not None else ""))
        if corpus_iterable is not None:
            _check_iterable(corpus_iterable, "corpus_iterable")

    # ------------------------------------------------------------------ vocabulary

    def _count_file(self, corpus_file: Any):
        counter = _C.TokenCounter()
        path = os.fspath(corpus_file) if isinstance(corpus_file, os.PathLike) else corpus_file
        try:
            for chunk in _read_chunks(corpus_file):
                counter.add(chunk)
            counter.add(b"", final=True)
        except ValueError as exc:
            if str(exc).startswith("corpus_file"):
                raise
            raise ValueError(f"corpus_file {path!r}: {exc}") from None
        return counter

    def build_vocab(self, corpus_iterable: Any = None, corpus_file: Any = None) -> Word2Vec:
        """Count the words of the corpus, keep those of ``min_count`` occurrences or more (the
        ``max_vocab_size`` most frequent at most), compute the subsampling probabilities and
        initialise the vectors (input: uniform in ``[-0.5, 0.5) / vector_size``; output and
        biases: zero). Replaces any earlier vocabulary and training. Returns self.

        Raises ValueError for an empty corpus, a vocabulary left empty by ``min_count``, a
        binary or non-UTF-8 file; TypeError for tokens that are not strings;
        FileNotFoundError for a missing file."""
        self._validate_params()
        self._corpus_args(corpus_iterable, corpus_file, "build_vocab")
        min_count = int(self.min_count)
        source = "the corpus" if corpus_file is None else f"corpus_file {os.fspath(corpus_file)!r}"
        if corpus_file is not None:
            _open_binary(corpus_file).close()  # a missing file is named before any work
            counter = self._count_file(corpus_file)
            n_tokens, n_sentences = int(counter.n_tokens), int(counter.n_sentences)
            words, counts = counter.items(min_count)
            words = list(words)
            counts = np.asarray(counts, np.int64)
            top = counter.items(1) if not words and n_tokens else None
            top = (top[0][0], int(top[1][0])) if top is not None else None
        else:
            tally: Counter = Counter()
            n_tokens = n_sentences = 0
            for sent in _sentences(corpus_iterable, "corpus_iterable"):
                tally.update(sent)
                n_tokens += len(sent)
                n_sentences += bool(sent)
            words, counts = _sort_vocab(tally, min_count)
            top = None
            if not words and tally:
                w, c = min(tally.items(), key=lambda wc: (-wc[1], wc[0].encode("utf-8",
                                                                                  "surrogatepass")))
                top = (w, c)
        if n_tokens == 0:
            raise ValueError(f"{source} is empty: it holds no tokens")
        if not words:
            raise ValueError(f"no word of {source} occurs min_count={min_count} times or more "
                             f"(the most frequent, {top[0]!r}, occurs {top[1]} times); lower "
                             "min_count")
        if self.max_vocab_size is not None and len(words) > self.max_vocab_size:
            words = words[:int(self.max_vocab_size)]
            counts = counts[:int(self.max_vocab_size)]
        V, D = len(words), int(self.vector_size)
        total = float(counts.sum())
        if self.sample > 0:
            t = float(self.sample)
            f = counts / total
            keep = np.minimum(1.0, (np.sqrt(f / t) + 1.0) * t / f)
        else:
            keep = np.ones(V)
        u = _C.uniform((V, D), int(self.seed), _STREAM_INIT, 0)
        vectors = (u - np.float32(0.5)) / np.float32(D)
        # Assigned together, at the end: an interrupt above leaves the model as it was.
        state = {
            "index_to_key_": words,
            "counts_": counts,
            "keep_prob_": keep.astype(np.float32),
            "vectors_": np.ascontiguousarray(vectors, dtype=np.float32),
            "syn1_": np.zeros((V, D), np.float32),
            "bias_": np.zeros(V, np.float32) if self.loss == "nce" else None,
            "corpus_count_": n_sentences,
            "corpus_total_words_": n_tokens,
            "train_words_": int(counts.sum()),
            "epochs_trained_": 0,
            "words_trained_": 0,
            "interrupted_": False,
            "device_": None,
            "history_": {"loss": [], "seconds": [], "words_per_s": []},
            "_counter": 0,
        }
        self.__dict__.update(state)
        self._wv_cache = None
        return self

    # ------------------------------------------------------------------ training

    def _noise(self) -> tuple[Any, Any, np.ndarray]:
        """(alias prob, alias, log q) of the noise distribution (None, None, log q for the
        log-uniform sampler)."""
        V = len(self.index_to_key_)
        if self.noise == "unigram":
            w = self.counts_.astype(np.float64) ** float(self.ns_exponent)
            if not np.all(np.isfinite(w)) or w.sum() <= 0:
                raise ValueError(f"ns_exponent={self.ns_exponent} gives a noise distribution "
                                 "that is not finite and positive")
            prob, alias = _C.alias_build(w)
            logq = np.log(w / w.sum())
        else:
            k = np.arange(V, dtype=np.float64)
            prob = alias = None
            logq = np.log(np.log((k + 2.0) / (k + 1.0)) / math.log(V + 1.0))
        return prob, alias, logq.astype(np.float32)

    def _file_jobs(self, corpus_file: Any, job_words: int):
        encoder = _C.TokenEncoder(self.index_to_key_)
        jobs = _Jobs(job_words)
        name = os.fspath(corpus_file)
        try:
            for chunk in _read_chunks(corpus_file):
                yield from jobs.add(*encoder.encode(chunk))
            yield from jobs.add(*encoder.encode(b"", final=True))
        except ValueError as exc:
            if str(exc).startswith("corpus_file"):
                raise
            raise ValueError(f"corpus_file {name!r}: {exc}") from None
        yield from jobs.flush()

    def _iterable_jobs(self, corpus_iterable: Any, job_words: int):
        get = self.wv.key_to_index.get
        ids: list[int] = []
        ends: list[int] = []
        for sent in _sentences(corpus_iterable, "corpus_iterable"):
            sid = [i for i in map(get, sent) if i is not None]
            for s in range(0, len(sid), MAX_SENTENCE):
                ids.extend(sid[s:s + MAX_SENTENCE])
                ends.append(len(ids))
                if len(ids) >= job_words:
                    yield np.array(ids, np.int32), np.array(ends, np.int64)
                    ids, ends = [], []
        if ids:
            yield np.array(ids, np.int32), np.array(ends, np.int64)

    def _check_cuda_limits(self, D: int) -> None:
        """The CUDA kernel's limits (it cannot check them on the device): ValueError."""
        if D > _CUDA_MAX_D:
            raise ValueError(f"vector_size must be at most {_CUDA_MAX_D} on a CUDA device (the "
                             f"CUDA kernel's limit), got {D}; train on the host (device='cpu')")
        if int(self.window) > _MAX_WINDOW:
            raise ValueError(f"window must be in [1, {_MAX_WINDOW}], got {self.window}")
        if int(self.negative) > _MAX_NEGATIVE:
            raise ValueError(f"negative must be in [1, {_MAX_NEGATIVE}], got {self.negative}")

    @keeps_progress_on_interrupt
    def train(self, corpus_iterable: Any = None, corpus_file: Any = None,
              epochs: int | None = None) -> tuple[int, int]:
        """Train the vectors for ``epochs`` (default: the ``epochs`` parameter) passes over the
        corpus, the learning rate going linearly from ``alpha`` to ``min_alpha`` over them
        (measured in the in-vocabulary words counted by ``build_vocab``). Can be called again
        to continue training (with a new decay). Returns ``(words, pairs)``: in-vocabulary
        words processed (before subsampling) and (centre, context) pairs trained.

        Ctrl-C: see the class notes (the model stays usable, ``interrupted_`` is set)."""
        self._check_built()
        self._validate_params()
        self._corpus_args(corpus_iterable, corpus_file, "train")
        epochs = int(self.epochs) if epochs is None else int_param(epochs, "epochs")
        V, D = self.vectors_.shape
        if D != int(self.vector_size):
            raise ValueError(f"vector_size is {self.vector_size} but the vectors have {D} "
                             "dimensions: call build_vocab again after changing it")
        kind, index = _device.use_device(self.device, "device")
        if kind == "cuda":
            self._check_cuda_limits(D)
        if self.loss == "nce" and self.bias_ is None:
            self.bias_ = np.zeros(V, np.float32)
        prob, alias, logq = self._noise()
        if kind == "cuda":
            threads = DEVICE_WORKERS if self.workers is None else int(self.workers)
        else:
            threads = get_num_threads() if self.workers is None else int(self.workers)
        job_words = int(self.batch_words) * threads
        alpha, min_alpha = float(self.alpha), float(self.min_alpha)
        expected = max(1, epochs * int(self.train_words_))
        done = 0
        words_total = pairs_total = 0
        bar = progress_bar(self.verbose, expected, "Word2Vec")
        self.interrupted_ = False
        kwargs = dict(sg=bool(self.sg), loss=self.loss, negative=int(self.negative),
                      window=int(self.window), seed=int(self.seed),
                      remove_accidental_hits=bool(self.remove_accidental_hits))
        # On a device, a job's result is read when the next job is ready (the host encodes it
        # while the device trains): ``pending`` is the job in flight.
        device: _DeviceTrainer | None = None
        pending = None
        epoch = 0
        t0 = time.perf_counter()
        loss_sum, pairs, words = 0.0, 0, 0

        def account(result) -> None:
            nonlocal loss_sum, pairs, words
            job_loss, job_words_done, job_pairs = result
            words += int(job_words_done)
            pairs += int(job_pairs)
            loss_sum += float(job_loss)
            self.words_trained_ += int(job_words_done)
            if bar is not None:
                bar.update(int(job_words_done))
                el = time.perf_counter() - t0
                bar.set_postfix(epoch=f"{epoch + 1}/{epochs}",
                                words_s=f"{words / max(el, 1e-9):,.0f}", refresh=False)

        try:
            if kind == "cuda":
                device = _DeviceTrainer(self, index, prob, alias, logq, threads, kwargs)
            self.device_ = "cpu" if device is None else device.device
            for epoch in range(epochs):
                t0 = time.perf_counter()
                loss_sum, pairs, words = 0.0, 0, 0
                jobs = (self._file_jobs(corpus_file, job_words) if corpus_file is not None
                        else self._iterable_jobs(corpus_iterable, job_words))
                if _READ_AHEAD:
                    jobs = _ReadAhead(jobs, _READ_AHEAD)
                try:
                    for ids, ends in jobs:
                        if pending is not None:
                            result = device.collect(pending)
                            pending = None
                            account(result)
                        a0 = max(min_alpha, alpha - (alpha - min_alpha) * done / expected)
                        a1 = max(min_alpha,
                                 alpha - (alpha - min_alpha) * (done + len(ids)) / expected)
                        counter = self._counter
                        self._counter += len(ids)
                        done += len(ids)  # the kernels' words_processed: every token of the job
                        if device is None:
                            account(_C.word2vec_train(
                                self.vectors_, self.syn1_, self.bias_, ids, ends, self.keep_prob_,
                                prob, alias, logq, alpha=a0, alpha_end=a1, counter=counter,
                                batched=_BATCHED, num_threads=threads, **kwargs))
                        else:
                            pending = device.launch(ids, ends, a0, a1, counter)
                finally:
                    jobs.close()
                if pending is not None:
                    result = device.collect(pending)
                    pending = None
                    account(result)
                seconds = time.perf_counter() - t0
                self.epochs_trained_ += 1
                words_total += words
                pairs_total += pairs
                self.history_["loss"].append(loss_sum / pairs if pairs else float("nan"))
                self.history_["seconds"].append(seconds)
                self.history_["words_per_s"].append(words / seconds if seconds > 0 else 0.0)
                if self.verbose and bar is None:
                    print(f"Word2Vec epoch {epoch + 1}/{epochs}: {words:,} words, "
                          f"{self.history_['words_per_s'][-1]:,.0f} words/s, loss "
                          f"{self.history_['loss'][-1]:.4f}, alpha {a1 if words else alpha:.5f}",
                          file=sys.stderr, flush=True)
        except KeyboardInterrupt:
            self.interrupted_ = True
            raise
        finally:
            try:
                if device is not None:
                    device.download()  # waits for the job in flight
                    if pending is not None and self.interrupted_:
                        account(device.collect(pending))  # it finished: count it
            finally:
                if bar is not None:
                    bar.close()
                self._forget_norms()
        if words_total == 0:
            raise ValueError("no in-vocabulary word in the training corpus: nothing was "
                             "trained (is it the corpus build_vocab counted?)")
        return words_total, pairs_total

    @keeps_progress_on_interrupt
    def fit(self, sentences: Any = None, y: Any = None, *, corpus_file: Any = None) -> Word2Vec:
        """``build_vocab`` then ``train`` on the same corpus (token lists or ``corpus_file``);
        returns self. ``y`` is ignored (scikit-learn's signature)."""
        _device.use_device(self.device, "device")  # an unusable CUDA device: before any counting
        self.build_vocab(sentences, corpus_file=corpus_file)
        self.train(sentences, corpus_file=corpus_file)
        return self
