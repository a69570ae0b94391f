"""lf.models.Word2Vec and KeyedVectors: similarity queries against numpy, evaluation and the
word2vec.c formats against gensim 4.4 on the same vectors, vocabulary building (token lists and
files, plain and gzip), persistence, input checks; training (guarded until the native kernel
``_C.word2vec_train`` is in the build)."""

from __future__ import annotations

import gzip
import os
import pickle

import numpy as np
import pytest

import latentforge as lf
from latentforge.models import KeyedVectors, Word2Vec
from latentforge.models._base import NotFittedError
from latentforge.persist import FormatError

# ---------------------------------------------------------------------- fixtures


def _words(n, seed=0):
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    out, seen = [], set()
    while len(out) < n:
        w = "".join(rng.choice(letters, rng.integers(3, 8)))
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


@pytest.fixture(scope="module")
def kv_data():
    """400 words (a few with an upper-case twin) and random vectors with planted analogies:
    for each planted question (a, b, c, d), d's vector is b + c - a (unit vectors) plus a
    little noise, so some questions are answered right and most others wrong."""
    rng = np.random.default_rng(1)
    words = _words(400, seed=1)
    words[5], words[9] = "Paris", "paris"  # a case variant (the first one wins case-folded)
    words[12], words[40] = "Rome", "ROME"
    D = 24
    vecs = rng.standard_normal((len(words), D)).astype(np.float32)
    vecs[7] = 0.0 + 1e-3  # a short (not zero) vector
    unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    questions = []
    for _ in range(150):
        a, b, c, d = rng.choice(np.arange(60, 400), 4, replace=False)
        if rng.random() < 0.6:
            vecs[d] = (unit[b] + unit[c] - unit[a]) * 2.0 + 0.05 * rng.standard_normal(D)
            unit[d] = vecs[d] / np.linalg.norm(vecs[d])
        questions.append((a, b, c, d))
    return words, vecs, questions


@pytest.fixture(scope="module")
def eval_files(kv_data, tmp_path_factory):
    words, vecs, questions = kv_data
    rng = np.random.default_rng(2)
    d = tmp_path_factory.mktemp("w2v_eval")
    # word pairs: a comment, tab-separated pairs, some OOV, mixed case, a malformed line
    lines = ["# Word 1\tWord 2\tHuman (mean)"]
    for i in range(120):
        a, b = rng.choice(len(words), 2, replace=False)
        wa, wb = words[a], words[b]
        if i % 7 == 0:
            wa = "zzzunknown"
        if i % 5 == 0:
            wa = wa.upper()
        lines.append(f"{wa}\t{wb}\t{rng.uniform(0, 10):.2f}")
    lines.insert(30, "malformed line without tabs")
    lines.insert(40, "paris\trome\t9.1")
    pairs = d / "pairs.tsv"
    pairs.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # analogies: three sections, some OOV, some lower-case words from upper-case keys
    out = []
    for s in range(3):
        out.append(f": section-{s}")
        for j, (a, b, c, e) in enumerate(questions[s * 50:(s + 1) * 50]):
            q = [words[a], words[b], words[c], words[e]]
            if j % 11 == 0:
                q[2] = "notaword"
            if j % 13 == 0:
                q[0] = q[0].upper()
            out.append(" ".join(q))
        out.append("PARIS rome paris ROME")  # case variants of the same words
    analogies = d / "questions.txt"
    analogies.write_text("\n".join(out) + "\n", encoding="utf-8")
    return pairs, analogies


@pytest.fixture(scope="module")
def kv(kv_data):
    words, vecs, _ = kv_data
    return KeyedVectors(words, vecs)


@pytest.fixture(scope="module")
def gensim_kv(kv_data):
    gensim_kv_mod = pytest.importorskip("gensim.models.keyedvectors")
    words, vecs, _ = kv_data
    g = gensim_kv_mod.KeyedVectors(vecs.shape[1])
    g.add_vectors(words, vecs)
    return g


# ---------------------------------------------------------------------- KeyedVectors basics


def test_keyed_vectors_container(kv, kv_data):
    words, vecs, _ = kv_data
    assert len(kv) == len(words) and kv.vector_size == vecs.shape[1]
    assert kv.index_to_key == words and kv.key_to_index[words[3]] == 3
    assert words[3] in kv and "nope" not in kv and ["unhashable"] not in kv
    np.testing.assert_array_equal(kv[words[3]], vecs[3])
    np.testing.assert_array_equal(kv[[words[1], words[2]]], vecs[1:3])
    np.testing.assert_allclose(kv.get_vector(words[4], norm=True),
                               vecs[4] / np.linalg.norm(vecs[4]), rtol=1e-6)
    assert not kv[words[0]].flags.writeable
    with pytest.raises(KeyError, match="nope"):
        kv["nope"]
    with pytest.raises(ValueError, match="unique"):
        KeyedVectors(["a", "b", "a"], np.zeros((3, 2)))
    with pytest.raises(ValueError, match="one row per key"):
        KeyedVectors(["a"], np.zeros((2, 2)))
    with pytest.raises(TypeError, match="strings"):
        KeyedVectors(["a", 3], np.zeros((2, 2)))


def _np_most_similar(vecs, words, pos, neg, topn, restrict=None):
    unit = vecs.astype(np.float64) / np.linalg.norm(vecs, axis=1, keepdims=True)
    idx = {w: i for i, w in enumerate(words)}
    mean = sum(unit[idx[w]] for w in pos) - sum(unit[idx[w]] for w in neg)
    mean /= np.linalg.norm(mean)
    n = restrict or len(words)
    sims = unit[:n] @ mean
    order = [i for i in np.argsort(-sims, kind="stable")
             if words[i] not in set(pos) | set(neg)]
    return [(words[i], sims[i]) for i in order[:topn]]


@pytest.mark.parametrize("pos,neg,topn,restrict", [
    (["w0"], [], 10, None),
    (["w1", "w2"], ["w3"], 5, None),
    (["w4"], ["w5", "w6"], 7, 150),
    (["w8"], [], 1, 50),
])
def test_most_similar_matches_numpy(kv, kv_data, pos, neg, topn, restrict):
    words, vecs, _ = kv_data
    name = {f"w{i}": words[60 + i] for i in range(10)}
    pos, neg = [name[w] for w in pos], [name[w] for w in neg]
    got = kv.most_similar(positive=pos, negative=neg, topn=topn, restrict_vocab=restrict)
    want = _np_most_similar(vecs, words, pos, neg, topn, restrict)
    assert [w for w, _ in got] == [w for w, _ in want]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in want], atol=2e-6)
    assert all(w not in pos + neg for w, _ in got)


def test_most_similar_forms_and_similarity(kv, kv_data):
    words, vecs, _ = kv_data
    w = words[70]
    assert kv.most_similar(w, topn=0) == []
    assert kv.most_similar(w)[0] == kv.most_similar(positive=[w])[0]
    all_sims = kv.most_similar(w, topn=None)
    assert all_sims.shape == (len(words),) and abs(all_sims[70] - 1.0) < 1e-5
    # a raw vector is a query too (not excluded from the answers)
    assert kv.similar_by_vector(vecs[70], topn=1)[0][0] == w
    # (word, weight) pairs
    a = kv.most_similar(positive=[(w, 2.0)], topn=3)
    assert [x for x, _ in a] == [x for x, _ in kv.most_similar(w, topn=3)]
    want = float(vecs[70] @ vecs[71] / np.linalg.norm(vecs[70]) / np.linalg.norm(vecs[71]))
    assert kv.similarity(w, words[71]) == pytest.approx(want, abs=1e-6)
    with pytest.raises(KeyError, match="'nonexistent'"):
        kv.most_similar(positive=[w, "nonexistent"])
    with pytest.raises(KeyError, match="'gone'"):
        kv.most_similar(positive=[w], negative=["gone"])
    with pytest.raises(ValueError, match="no input"):
        kv.most_similar(positive=[])


def test_most_similar_agrees_with_gensim(kv, gensim_kv, kv_data):
    words = kv_data[0]
    for pos, neg in [([words[80]], []), ([words[81], words[82]], [words[83]])]:
        ours = kv.most_similar(positive=pos, negative=neg, topn=8)
        theirs = gensim_kv.most_similar(positive=pos, negative=neg, topn=8)
        assert [w for w, _ in ours] == [w for w, _ in theirs]
        np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], atol=2e-6)
    assert kv.similarity(words[1], words[2]) == pytest.approx(
        float(gensim_kv.similarity(words[1], words[2])), abs=1e-6)


# ---------------------------------------------------------------------- evaluation vs gensim


@pytest.mark.parametrize("kwargs", [
    {},
    {"dummy4unknown": True},
    {"case_insensitive": False},
    {"restrict_vocab": 100},
])
def test_evaluate_word_pairs_matches_gensim(kv, gensim_kv, eval_files, kwargs):
    pairs, _ = eval_files
    (r, pr), (rho, prho), oov = kv.evaluate_word_pairs(str(pairs), **kwargs)
    (gr, gpr), (grho, gprho), goov = gensim_kv.evaluate_word_pairs(str(pairs), **kwargs)
    assert r == pytest.approx(gr, abs=1e-6) and rho == pytest.approx(grho, abs=1e-6)
    assert pr == pytest.approx(gpr, rel=1e-5, abs=1e-12)
    assert prho == pytest.approx(gprho, rel=1e-5, abs=1e-12)
    assert oov == pytest.approx(goov, rel=1e-12)


@pytest.mark.parametrize("kwargs", [
    {},
    {"dummy4unknown": True},
    {"case_insensitive": False},
    {"restrict_vocab": 200},
])
def test_evaluate_word_analogies_matches_gensim(kv, gensim_kv, eval_files, kwargs):
    _, analogies = eval_files
    score, sections = kv.evaluate_word_analogies(str(analogies), **kwargs)
    gscore, gsections = gensim_kv.evaluate_word_analogies(str(analogies), **kwargs)
    assert score == pytest.approx(gscore, abs=1e-12)
    assert [s["section"] for s in sections] == [s["section"] for s in gsections]
    for s, g in zip(sections, gsections):
        assert s["correct"] == g["correct"], s["section"]
        assert s["incorrect"] == g["incorrect"], s["section"]
    if not kwargs:
        assert 0.2 < score < 0.9  # the planted questions are found, the others not


def test_evaluation_errors(kv, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("a b c d\n")
    with pytest.raises(ValueError, match="Missing section header"):
        kv.evaluate_word_analogies(str(bad))
    oov = tmp_path / "oov.tsv"
    oov.write_text("qqq\trrr\t1.0\n")
    with pytest.raises(ValueError, match="No valid similarity|no valid similarity"):
        kv.evaluate_word_pairs(str(oov))
    with pytest.raises(FileNotFoundError):
        kv.evaluate_word_pairs(str(tmp_path / "missing.tsv"))


def test_real_evaluation_files_match_gensim():
    """The shipped WordSim353 / SimLex-999 / analogy files (when on the machine): the same
    numbers as gensim on random vectors for 90% of their words (a random order, a few
    upper-case variants), the other 10% out of the vocabulary."""
    gensim_kv_mod = pytest.importorskip("gensim.models.keyedvectors")
    root = os.environ.get("LATENTFORGE_DATA", "")
    ev = os.path.join(root, "text", "eval")
    names = ("wordsim353.tsv", "simlex999.txt", "questions-words.txt")
    if not (root and all(os.path.isfile(os.path.join(ev, n)) for n in names)):
        pytest.skip("LATENTFORGE_DATA/text/eval is not on this machine")
    vocab = set()
    for n in names:
        with open(os.path.join(ev, n), encoding="utf-8") as f:
            for line in f:
                if not line.startswith((":", "#")):
                    vocab.update(w for w in line.replace("\t", " ").split()[:4]
                                 if not w[0].isdigit())
    rng = np.random.default_rng(4)
    words = sorted(vocab)
    rng.shuffle(words)
    words = words[: int(0.9 * len(words))]
    words += [w.upper() for w in words[:50]]
    vecs = rng.standard_normal((len(words), 20)).astype(np.float32)
    ours = KeyedVectors(words, vecs)
    theirs = gensim_kv_mod.KeyedVectors(20)
    theirs.add_vectors(words, vecs)
    for n in names[:2]:
        got = ours.evaluate_word_pairs(os.path.join(ev, n))
        want = theirs.evaluate_word_pairs(os.path.join(ev, n))
        assert got[1][0] == pytest.approx(want[1][0], abs=1e-6) and got[2] == want[2]
    got = ours.evaluate_word_analogies(os.path.join(ev, names[2]), restrict_vocab=3000)
    want = theirs.evaluate_word_analogies(os.path.join(ev, names[2]), restrict_vocab=3000)
    assert got[0] == want[0]
    assert [(s["section"], s["correct"], s["incorrect"]) for s in got[1]] == \
        [(s["section"], s["correct"], s["incorrect"]) for s in want[1]]


def test_correlation_p_values_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    from latentforge.models.word2vec import _corr_pvalue, _pearson, _rankdata

    rng = np.random.default_rng(3)
    for n in (5, 12, 80, 353):
        x = rng.standard_normal(n)
        y = 0.3 * x + rng.standard_normal(n)
        y[: n // 4] = np.round(y[: n // 4])  # ties
        r = _pearson(x, y)
        want = stats.pearsonr(x, y)
        assert r == pytest.approx(want[0], abs=1e-12)
        assert _corr_pvalue(r, n) == pytest.approx(want[1], rel=1e-8)
        rho = _pearson(_rankdata(x), _rankdata(y))
        want = stats.spearmanr(x, y)
        assert rho == pytest.approx(want[0], abs=1e-12)
        assert _corr_pvalue(rho, n) == pytest.approx(want[1], rel=1e-8)
        np.testing.assert_array_equal(_rankdata(y), stats.rankdata(y))


# ---------------------------------------------------------------------- word2vec.c formats


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("gz", [False, True])
def test_word2vec_format_round_trips_through_gensim(kv, kv_data, tmp_path, binary, gz):
    gensim_kv_mod = pytest.importorskip("gensim.models.keyedvectors")
    words, vecs, _ = kv_data
    path = tmp_path / ("v.bin" if binary else "v.txt")
    if gz:
        path = path.with_name(path.name + ".gz")
    kv.save_word2vec_format(str(path), binary=binary)
    g = gensim_kv_mod.KeyedVectors.load_word2vec_format(str(path), binary=binary)
    assert g.index_to_key == words
    np.testing.assert_array_equal(g.vectors, vecs)  # bit for bit, text included
    back = KeyedVectors.load_word2vec_format(path, binary=binary)
    assert back.index_to_key == words
    np.testing.assert_array_equal(back.vectors, vecs)
    # and gensim's own files (its binary has no newline after a vector) read back in ours
    gpath = tmp_path / ("g.bin" if binary else "g.txt")
    g.save_word2vec_format(str(gpath), binary=binary)
    ours = KeyedVectors.load_word2vec_format(str(gpath), binary=binary)
    assert ours.index_to_key == words
    np.testing.assert_array_equal(ours.vectors, vecs)
    assert KeyedVectors.load_word2vec_format(str(gpath), binary=binary, limit=7).vectors.shape \
        == (7, vecs.shape[1])


@pytest.mark.parametrize("binary", [False, True])
def test_word2vec_format_damaged_files(kv, tmp_path, binary):
    path = tmp_path / "v"
    kv.save_word2vec_format(path, binary=binary)
    data = path.read_bytes()
    (tmp_path / "cut").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated|values"):
        KeyedVectors.load_word2vec_format(tmp_path / "cut", binary=binary)
    (tmp_path / "nohead").write_bytes(b"hello world\n")
    with pytest.raises(ValueError, match="first line"):
        KeyedVectors.load_word2vec_format(tmp_path / "nohead", binary=binary)
    with pytest.raises(FileNotFoundError):
        KeyedVectors.load_word2vec_format(tmp_path / "missing", binary=binary)
    with pytest.raises(ValueError, match="whitespace"):
        KeyedVectors(["a b"], np.zeros((1, 2))).save_word2vec_format(tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_word2vec_format_duplicate_word_keeps_the_first(tmp_path):
    p = tmp_path / "dup.txt"
    p.write_text("3 2\na 1 2\nb 3 4\na 5 6\n")
    with pytest.warns(UserWarning, match="duplicate"):
        kv = KeyedVectors.load_word2vec_format(p)
    assert kv.index_to_key == ["a", "b"]
    np.testing.assert_array_equal(kv.vectors, [[1, 2], [3, 4]])


# ---------------------------------------------------------------------- vocabulary


CORPUS = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat and a dog",
    "",
    "zebra the end",
    "naïve café the cat",
]


def _lists():
    return [line.split() for line in CORPUS]


def test_vocab_from_lists():
    m = Word2Vec(min_count=2, vector_size=8, sample=0).build_vocab(_lists())
    # by count descending, ties by UTF-8 bytes
    assert m.index_to_key_ == ["the", "cat", "a", "dog", "on", "sat"]
    np.testing.assert_array_equal(m.counts_, [6, 3, 2, 2, 2, 2])
    assert m.corpus_count_ == 5 and m.corpus_total_words_ == 24 and m.train_words_ == 17
    assert m.vectors_.shape == (6, 8) and m.vectors_.dtype == np.float32
    assert np.all(np.abs(m.vectors_) <= 0.5 / 8) and m.vectors_.std() > 0
    assert not m.syn1_.any() and m.bias_ is None
    np.testing.assert_array_equal(m.keep_prob_, 1.0)
    # the same seed, the same initial vectors; another seed, others
    again = Word2Vec(min_count=2, vector_size=8, sample=0).build_vocab(_lists())
    np.testing.assert_array_equal(again.vectors_, m.vectors_)
    other = Word2Vec(min_count=2, vector_size=8, sample=0, seed=1).build_vocab(_lists())
    assert not np.array_equal(other.vectors_, m.vectors_)
    cut = Word2Vec(min_count=1, max_vocab_size=3).build_vocab(_lists())
    assert cut.index_to_key_ == ["the", "cat", "a"]
    nce = Word2Vec(min_count=1, loss="nce").build_vocab(_lists())
    assert nce.bias_.shape == (len(nce.index_to_key_),) and not nce.bias_.any()


def test_subsampling_keep_probabilities():
    sents = [["a"] * 90 + ["b"] * 9 + ["c"]]
    m = Word2Vec(min_count=1, sample=0.01).build_vocab(sents)
    f = np.array([90, 9, 1]) / 100
    want = np.minimum(1.0, (np.sqrt(f / 0.01) + 1) * 0.01 / f)
    np.testing.assert_allclose(m.keep_prob_, want, rtol=1e-6)
    assert m.keep_prob_[0] < 1 and m.keep_prob_[2] == 1.0


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_vocab_from_file_equals_vocab_from_lists(tmp_path, suffix):
    text = "\n".join(CORPUS) + "\n  \t\n"
    path = tmp_path / f"corpus.txt{suffix}"
    if suffix:
        with gzip.open(path, "wb") as f:
            f.write(text.replace(" ", "  ").encode())
    else:
        path.write_bytes(text.replace(" the", "\tthe").encode())
    a = Word2Vec(min_count=1, vector_size=8).build_vocab(_lists())
    b = Word2Vec(min_count=1, vector_size=8).build_vocab(corpus_file=path)
    assert a.index_to_key_ == b.index_to_key_
    np.testing.assert_array_equal(a.counts_, b.counts_)
    np.testing.assert_array_equal(a.keep_prob_, b.keep_prob_)
    np.testing.assert_array_equal(a.vectors_, b.vectors_)
    assert (a.corpus_count_, a.corpus_total_words_) == (b.corpus_count_, b.corpus_total_words_)


def test_vocab_from_a_file_larger_than_a_chunk(tmp_path, monkeypatch):
    from latentforge.models import word2vec as w2v

    monkeypatch.setattr(w2v, "CHUNK_BYTES", 7)  # every token and line cut by a chunk edge
    lines = [" ".join(f"w{(i * j) % 13}" for j in range(1, 9)) for i in range(50)]
    path = tmp_path / "c.txt"
    path.write_text("\n".join(lines))  # no final newline
    a = Word2Vec(min_count=1).build_vocab([s.split() for s in lines])
    b = Word2Vec(min_count=1).build_vocab(corpus_file=str(path))
    assert a.index_to_key_ == b.index_to_key_
    np.testing.assert_array_equal(a.counts_, b.counts_)


def test_bad_corpus_files(tmp_path):
    binary = tmp_path / "bin.dat"
    binary.write_bytes(b"abc def\n\x00\x01\x02 ghi\n")
    with pytest.raises(ValueError, match="binary"):
        Word2Vec(min_count=1).build_vocab(corpus_file=binary)
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    with pytest.raises(ValueError, match="UTF-8|utf-8|utf8"):
        Word2Vec(min_count=1).build_vocab(corpus_file=latin)
    empty = tmp_path / "empty.txt"
    empty.write_text(" \n\n\t\n")
    with pytest.raises(ValueError, match="empty"):
        Word2Vec(min_count=1).build_vocab(corpus_file=empty)
    rare = tmp_path / "rare.txt"
    rare.write_text("a b c\nd e a\n")
    with pytest.raises(ValueError, match="min_count=5.*'a'.*2 times"):
        Word2Vec().build_vocab(corpus_file=rare)
    badgz = tmp_path / "bad.txt.gz"
    badgz.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="bad.txt.gz"):
        Word2Vec(min_count=1).build_vocab(corpus_file=badgz)


def test_bad_corpora():
    with pytest.raises(FileNotFoundError, match="nothere"):
        Word2Vec().build_vocab(corpus_file="/nonexistent/nothere.txt")
    with pytest.raises(ValueError, match="empty"):
        Word2Vec(min_count=1).build_vocab([[], []])
    with pytest.raises(ValueError, match="empty"):
        Word2Vec(min_count=1).build_vocab([])
    with pytest.raises(ValueError, match=r"min_count=7.*'the'.*occurs 6 times"):
        Word2Vec(min_count=7).build_vocab(_lists())
    with pytest.raises(TypeError, match=r"corpus_iterable\[1\]\[2\] is a int"):
        Word2Vec(min_count=1).build_vocab([["a", "b"], ["c", "d", 3]])
    with pytest.raises(TypeError, match=r"corpus_iterable\[0\] must be a list of str"):
        Word2Vec(min_count=1).build_vocab(["a sentence as a string"])
    with pytest.raises(TypeError, match="re-iterable"):
        Word2Vec(min_count=1).build_vocab(s.split() for s in CORPUS)
    with pytest.raises(TypeError, match="corpus_file="):
        Word2Vec(min_count=1).build_vocab("the cat sat")
    with pytest.raises(ValueError, match="exactly one"):
        Word2Vec().build_vocab()
    with pytest.raises(ValueError, match="both"):
        Word2Vec().build_vocab(_lists(), corpus_file="x.txt")
    with pytest.raises(NotFittedError, match="build_vocab"):
        Word2Vec().train(_lists())
    with pytest.raises(NotFittedError):
        _ = Word2Vec().wv


@pytest.mark.parametrize("param,value,match", [
    ("window", 0, "window"),
    ("negative", 0, "negative must be an int >= 1 with loss='negative'"),
    ("vector_size", 0, "vector_size"),
    ("min_count", 0, "min_count"),
    ("loss", "softmax", "loss"),
    ("noise", "zipf", "noise"),
    ("sample", -1e-3, "sample"),
    ("alpha", 0.0, "alpha"),
    ("epochs", 0, "epochs"),
    ("sg", 2, "sg"),
    ("workers", 0, "workers"),
    ("seed", -1, "seed"),
    ("max_vocab_size", 0, "max_vocab_size"),
    ("batch_words", 1.5, "batch_words"),
    ("ns_exponent", float("nan"), "ns_exponent"),
])
def test_bad_parameters_are_named(param, value, match):
    m = Word2Vec(**{param: value})  # __init__ only stores
    with pytest.raises(ValueError, match=match):
        m.build_vocab(_lists())
    assert "vectors_" not in vars(m)


def test_params_are_hyper_parameters_only():
    m = Word2Vec(vector_size=16, window=3)
    p = m.get_params()
    assert "sentences" not in p and "corpus_file" not in p and p["window"] == 3
    assert repr(m) == "Word2Vec(vector_size=16, window=3)"
    m.set_params(window=4)
    assert m.window == 4


# ---------------------------------------------------------------------- persistence


def test_save_load_round_trip_and_damaged_files(tmp_path):
    m = Word2Vec(min_count=1, vector_size=8, loss="nce").build_vocab(_lists())
    m.history_["loss"].append(0.5)
    path = tmp_path / "model.npz"
    m.save(path)
    back = Word2Vec.load(path)
    assert type(back) is Word2Vec and back.get_params() == m.get_params()
    assert back.index_to_key_ == m.index_to_key_ and back.history_ == m.history_
    for name in ("vectors_", "syn1_", "bias_", "counts_", "keep_prob_"):
        np.testing.assert_array_equal(getattr(back, name), getattr(m, name))
    assert back.wv.most_similar("cat", topn=3) == m.wv.most_similar("cat", topn=3)
    assert lf.load(path).index_to_key_ == m.index_to_key_
    # truncated, foreign, another class
    data = path.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[:-100])
    with pytest.raises(FormatError, match="truncated|damaged|checksum"):
        Word2Vec.load(tmp_path / "cut.npz")
    (tmp_path / "foreign.npz").write_bytes(b"hello, not a model")
    with pytest.raises(FormatError, match="not a latentforge model"):
        Word2Vec.load(tmp_path / "foreign.npz")
    lf.models.PCA(2).save(tmp_path / "pca.npz")
    with pytest.raises(FormatError, match="not a Word2Vec"):
        Word2Vec.load(tmp_path / "pca.npz")
    # pickle too; the wv cache is rebuilt
    p = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(p.wv.vectors, m.wv.vectors)
    assert p.wv.vectors is p.vectors_


def test_wv_shares_the_training_array():
    m = Word2Vec(min_count=1, vector_size=8).build_vocab(_lists())
    wv = m.wv
    assert wv is m.wv and wv.vectors is m.vectors_
    assert m.syn1neg is m.syn1_ and m.corpus_count == 5


# ---------------------------------------------------------------------- training (native)


def _planted_corpus(n_sent=3000, seed=0):
    """Five groups of four synonyms; a sentence draws a topic, and its words come from that
    topic's synonym group and a few topic words (synonyms share their contexts)."""
    rng = np.random.default_rng(seed)
    groups = [[f"g{g}s{i}" for i in range(4)] for g in range(5)]
    topic_words = [[f"g{g}t{i}" for i in range(6)] for g in range(5)]
    sents = []
    for _ in range(n_sent):
        g = rng.integers(5)
        sent = []
        for _ in range(10):
            pool = groups[g] if rng.random() < 0.4 else topic_words[g]
            sent.append(pool[rng.integers(len(pool))])
        sents.append(sent)
    return sents, groups


@pytest.mark.parametrize("sg,loss,noise", [
    (1, "negative", "unigram"), (0, "negative", "unigram"), (1, "nce", "unigram"),
    (1, "nce", "log_uniform"),
])
def test_planted_synonyms_are_found(sg, loss, noise):
    sents, groups = _planted_corpus()
    m = Word2Vec(sents, vector_size=32, window=3, min_count=1, sg=sg, loss=loss, noise=noise,
                 negative=5, epochs=5, seed=1, workers=2)
    assert m.epochs_trained_ == 5 and len(m.history_["loss"]) == 5
    assert m.history_["loss"][-1] < m.history_["loss"][0]
    hits = 0
    for g in groups:
        near = {w for w, _ in m.wv.most_similar(g[0], topn=8)}
        hits += len(near & set(g[1:]) | near & {w.replace("s", "t") for w in g})
    assert hits >= 10


def test_seed_reproducibility_at_one_worker_and_file_equals_lists(tmp_path):
    sents, _ = _planted_corpus(800)
    kw = dict(vector_size=16, window=3, min_count=1, epochs=2, workers=1, seed=5,
              batch_words=500)
    a = Word2Vec(sents, **kw)
    b = Word2Vec(sents, **kw)
    np.testing.assert_array_equal(a.wv.vectors, b.wv.vectors)
    path = tmp_path / "c.txt"
    path.write_text("\n".join(" ".join(s) for s in sents) + "\n")
    c = Word2Vec(corpus_file=str(path), **kw)
    np.testing.assert_array_equal(a.wv.vectors, c.wv.vectors)
    d = Word2Vec(sents, **{**kw, "seed": 6})
    assert not np.array_equal(a.wv.vectors, d.wv.vectors)


def _reader_threads():
    import threading

    from latentforge.models.word2vec import _ReadAhead

    return [t for t in threading.enumerate() if t.name == _ReadAhead.THREAD_NAME]


def test_read_ahead_changes_nothing_and_hands_errors_over(tmp_path, monkeypatch):
    """The jobs are read and encoded by a background thread ahead of the training
    (_ReadAhead): the vectors are those of reading between trainings, bit for bit (workers=1,
    from lists and from a file); an error of the corpus is raised by train() with its own type
    and message, and no reader thread outlives a training."""
    import latentforge.models.word2vec as w2v

    sents, _ = _planted_corpus(800)
    path = tmp_path / "c.txt"
    path.write_text("\n".join(" ".join(s) for s in sents) + "\n")
    kw = dict(vector_size=16, window=3, min_count=1, epochs=2, workers=1, seed=5,
              batch_words=300)
    ahead = [Word2Vec(sents, **kw), Word2Vec(corpus_file=str(path), **kw)]
    monkeypatch.setattr(w2v, "_READ_AHEAD", 0)
    inline = [Word2Vec(sents, **kw), Word2Vec(corpus_file=str(path), **kw)]
    monkeypatch.undo()
    for a, b in zip(ahead, inline):
        np.testing.assert_array_equal(a.wv.vectors, b.wv.vectors)
        assert a.history_["loss"] == b.history_["loss"]
    assert not _reader_threads()

    class Broken:
        """A corpus that fails after a few hundred sentences (more than one job)."""

        def __iter__(self):
            for i, s in enumerate(sents):
                if i == 400:
                    raise RuntimeError("disk went away")
                yield s

    m = Word2Vec(**kw)
    m.build_vocab(sents)
    with pytest.raises(RuntimeError, match="disk went away"):
        m.train(Broken())
    assert m.words_trained_ > 0  # the jobs before the failure were trained
    with pytest.raises(TypeError):
        m.train([["w1", 3]])
    assert not _reader_threads()


def test_training_continues_and_errors():
    sents, _ = _planted_corpus(300)
    m = Word2Vec(vector_size=8, min_count=1, epochs=1).fit(sents)
    before = m.wv.vectors.copy()
    words, pairs = m.train(sents, epochs=1)
    assert words == m.train_words_ and pairs > 0 and m.epochs_trained_ == 2
    assert not np.array_equal(before, m.wv.vectors)
    with pytest.raises(ValueError, match="no in-vocabulary word"):
        m.train([["unknown", "words"]])


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_ctrl_c_during_training_leaves_a_usable_model():
    """SIGINT in the middle of a long training: KeyboardInterrupt, and the model keeps the
    vectors trained so far (interrupted_ set, counters up to date, queries work)."""
    import signal
    import subprocess
    import sys
    import textwrap
    import time

    # Default Ctrl-C handling in the child even when this process ignores SIGINT (a background
    # CI run does, and children inherit it).
    body = textwrap.dedent("""
        import signal
        signal.signal(signal.SIGINT, signal.default_int_handler)
        import numpy as np, latentforge as lf
        sents = [[f"w{(i * 7 + j * 13) % 300}" for j in range(20)] for i in range(20000)]
        m = lf.models.Word2Vec(vector_size=50, min_count=1, epochs=1000, workers=2)
        m.build_vocab(sents)
        print("ready", flush=True)
        try:
            m.train(sents)
            print("finished")
        except KeyboardInterrupt:
            print("interrupted")
        print("flagged" if m.interrupted_ else "not-flagged")
        print("counted" if 0 < m.words_trained_ < 1000 * m.train_words_ else "not-counted")
        ok = np.isfinite(m.wv.vectors).all() and len(m.wv.most_similar("w1", topn=3)) == 3
        print("usable" if ok else "unusable")
        import threading
        from latentforge.models.word2vec import _ReadAhead
        alive = [t for t in threading.enumerate() if t.name == _ReadAhead.THREAD_NAME]
        print("reader-alive" if alive else "reader-stopped")
    """)
    proc = subprocess.Popen([sys.executable, "-c", body], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="2"))
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(1.0)
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        latency = time.perf_counter() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out.split() == ["interrupted", "flagged", "counted", "usable", "reader-stopped"]
    assert latency < 5.0


# ---------------------------------------------------------------------- reproduction, plots
def test_text_scatter(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    Y = np.array([[0.0, 1.0], [2.0, -1.0], [0.5, 0.5]])
    path = tmp_path / "words.png"
    ax = lf.viz.text_scatter(Y, ["king", "queen", "man"], path=str(path))
    assert path.stat().st_size > 1000
    assert [t.get_text() for t in ax.texts] == ["king", "queen", "man"]
    with pytest.raises(ValueError, match="texts must have 3"):
        lf.viz.text_scatter(Y, ["a", "b"])
    with pytest.raises(ValueError, match="shape"):
        lf.viz.text_scatter(np.zeros((3, 3)), ["a", "b", "c"])
    plt.close("all")


def test_reproduction_runs_on_a_corpus_prefix(tmp_path):
    # The NCE reproduction (benchmarks/reproduce_word2vec.py) end to end on the corpus's first
    # 30k tokens: scores in range, neighbours listed, the t-SNE map written.
    pytest.importorskip("matplotlib").use("Agg")
    from latentforge import datasets
    from latentforge.bench import reproduce_w2v

    if datasets.find_text_data()[0] is None:
        pytest.skip("the word2vec text data is not on this machine (LATENTFORGE_DATA/text)")
    fig = tmp_path / "map.png"
    r = reproduce_w2v.run(tokens=30_000, epochs=1, figure=str(fig), verbose=0)
    assert r["tokens"] >= 30_000 and r["vocab"] > 500
    assert -1.0 <= r["wordsim353"] <= 1.0 and 0.0 <= r["analogy"] <= 1.0
    assert r["neighbours"] and all(len(v) == 8 for v in r["neighbours"].values())
    assert fig.stat().st_size > 10_000
