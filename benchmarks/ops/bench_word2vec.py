"""Kernel benchmark of ``word2vec`` (``csrc/ops/word2vec.h``): the training kernel's words/s on
the first ~1M tokens of the corpus in ``../shared/data/text/`` (the vocabulary counted on those
tokens, min_count 5, dim 100, window 5, sample 1e-3, one epoch in jobs of 50,000 tokens), beside
gensim 4.4 (``Word2Vec(corpus_file=...)``, same tokens and settings, one epoch) when it is
installed; plus the vocabulary counter on the whole corpus.

Words/s is tokens of the epoch (before subsampling) / wall time, for both libraries; the ratio
is ours / gensim's. Threads: ``lf.get_num_threads()`` for ours, ``workers`` = the same count
for gensim (set ``OMP_NUM_THREADS=2`` for the issue's 2-thread comparison).
"""

from __future__ import annotations

import gzip
import time

import numpy as np
import pytest

import latentforge as lf
from latentforge import _C

_TEXT_DIR, _LOOKED = lf.datasets.find_text_data()  # $LATENTFORGE_DATA/text, the cache, ...
CORPUS = None if _TEXT_DIR is None else _TEXT_DIR / "corpus.txt.gz"
_MISSING = "the word2vec text data was not found: " + "; ".join(x.strip(" -") for x in _LOOKED)
PREFIX_BYTES = 6_000_000  # ~1M tokens
JOB = 50_000
CONFIGS = {  # name: (sg, negative, batched)
    "sg-neg5": (True, 5, False),
    "sg-neg5-batched": (True, 5, True),
    "cbow-neg5": (False, 5, False),
    "sg-neg15": (True, 15, False),
    "sg-neg15-batched": (True, 15, True),
}


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    if CORPUS is None:
        pytest.skip(_MISSING)
    with gzip.open(CORPUS, "rb") as f:
        data = f.read(PREFIX_BYTES)
    data = data[: data.rindex(b"\n") + 1]
    path = tmp_path_factory.mktemp("w2v") / "prefix.txt"
    path.write_bytes(data)
    counter = _C.TokenCounter()
    counter.add(data, final=True)
    words, counts = counter.items(5)
    ids, ends = _C.TokenEncoder(words).encode(data, final=True)
    f = counts / counts.sum()
    keep = np.minimum(1.0, (np.sqrt(f / 1e-3) + 1) * 1e-3 / f).astype(np.float32)
    prob, alias = _C.alias_build(counts.astype(np.float64) ** 0.75)
    return dict(path=path, words=words, ids=ids, ends=ends, keep=keep, prob=prob, alias=alias)


def jobs(ids, ends, size):
    """(ids, sent_ends) slices of about `size` tokens, cut at sentence ends."""
    start_s, start_t = 0, 0
    cuts = np.searchsorted(ends, np.arange(size, ends[-1] + size, size), side="left")
    for c in np.unique(np.minimum(cuts, len(ends) - 1)):
        stop_t = int(ends[c])
        if stop_t <= start_t:
            continue
        yield ids[start_t:stop_t], ends[start_s : c + 1] - start_t, start_t
        start_s, start_t = c + 1, stop_t


def train_epoch(p, sg, negative, batched, D=100):
    V = len(p["words"])
    syn0 = ((np.random.default_rng(0).random((V, D), dtype=np.float32) - 0.5) / D)
    syn1 = np.zeros((V, D), np.float32)
    n = len(p["ids"])
    for ids, ends, start in jobs(p["ids"], p["ends"], JOB):
        a0 = 0.025 - (0.025 - 1e-4) * start / n
        a1 = 0.025 - (0.025 - 1e-4) * (start + len(ids)) / n
        _C.word2vec_train(syn0, syn1, None, ids, ends, p["keep"], p["prob"], p["alias"], None,
                          sg=sg, loss="negative", negative=negative, window=5, alpha=a0,
                          alpha_end=a1, seed=0, counter=start, remove_accidental_hits=True,
                          batched=batched)
    return n


@pytest.mark.benchmark(group="word2vec")
@pytest.mark.parametrize("config", list(CONFIGS))
def test_word2vec_train_epoch(benchmark, prefix, config):
    sg, negative, batched = CONFIGS[config]
    n = len(prefix["ids"])
    benchmark.pedantic(train_epoch, args=(prefix, sg, negative, batched), rounds=3, iterations=1)
    words_s = n / benchmark.stats.stats.min
    benchmark.extra_info.update(tokens=n, words_per_s=words_s, threads=lf.get_num_threads())


@pytest.mark.benchmark(group="word2vec")
@pytest.mark.parametrize("config", [c for c in CONFIGS if "batched" not in c])
def test_gensim_train_epoch(benchmark, prefix, config):
    gensim = pytest.importorskip("gensim")
    sg, negative, _ = CONFIGS[config]
    n = len(prefix["ids"])

    def setup():  # the vocabulary scan stays out of the timing, as ours does
        model = gensim.models.Word2Vec(vector_size=100, window=5, min_count=5, sample=1e-3,
                                       sg=int(sg), negative=negative,
                                       workers=lf.get_num_threads(), seed=0)
        model.build_vocab(corpus_file=str(prefix["path"]))
        return (model,), {}

    def run(model):
        model.train(corpus_file=str(prefix["path"]), total_examples=model.corpus_count,
                    total_words=model.corpus_total_words, epochs=1)

    benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)
    benchmark.extra_info.update(tokens=n, words_per_s=n / benchmark.stats.stats.min,
                                threads=lf.get_num_threads())


@pytest.mark.benchmark(group="word2vec-vocab")
def test_token_counter_whole_corpus(benchmark):
    if CORPUS is None:
        pytest.skip(_MISSING)

    def count():
        c = _C.TokenCounter()
        with gzip.open(CORPUS, "rb") as f:
            while chunk := f.read(4 << 20):
                c.add(chunk)
        c.add(b"", final=True)
        return c.n_tokens

    t0 = time.perf_counter()
    n = count()
    benchmark.pedantic(count, rounds=2, iterations=1)
    benchmark.extra_info.update(tokens=n, first_s=time.perf_counter() - t0)
