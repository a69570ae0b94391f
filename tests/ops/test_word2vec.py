"""The word2vec kernels (csrc/ops/word2vec.h): the streamed counter and encoder, the alias and
log-uniform noise samplers (statistically, against their target distributions), and the training
step: the optimized Hogwild kernel against the serial naive reference, both against a float64
numpy implementation of the updates (window 1, where the dynamic window draws no reduction, with
the noise words reproduced through the samplers, which share the training's draws), and learning
on small planted corpora."""

import re

import numpy as np
import pytest

import latentforge as lf
from latentforge import _C
from latentforge.testing import CHI2_N_SIGMA, N_SIGMA, W2V_TRAIN_ATOL

WS = rb"[ \t\r\n\v\f]+"


def ref_lines(text: bytes):
    """Token lists per line, as the spec defines them (empty lines included)."""
    return [[t for t in re.split(WS, line) if t] for line in text.split(b"\n")]


def feed(obj, text: bytes, cuts, method="add"):
    """Feeds text to a counter or encoder cut at the given offsets; returns the outputs."""
    out = []
    bounds = [0, *sorted(cuts), len(text)]
    for a, b in zip(bounds[:-1], bounds[1:]):
        out.append(getattr(obj, method)(text[a:b]))
    out.append(getattr(obj, method)(b"", final=True))
    return out


TEXT = (b"the cat sat on the mat\n\n  the dog\tsat\r\non a log \n"
        b"caf\xc3\xa9 na\xc3\xafve \xe6\x97\xa5\xe6\x9c\xac the\x0bend\x0c!\n"
        b"   \nlast line no newline")


# ------------------------------------------------------------------------------ counter


def counts_ref(text):
    from collections import Counter

    lines = ref_lines(text)
    c = Counter(t for line in lines for t in line)
    return c, sum(len(x) for x in lines), sum(1 for x in lines if x)


def test_counter_matches_reference_at_every_cut():
    ref, ntok, nsent = counts_ref(TEXT)
    expect = sorted(((-n, w) for w, n in ref.items()))
    for cut in range(len(TEXT) + 1):
        c = _C.TokenCounter()
        feed(c, TEXT, [cut])
        words, counts = c.items()
        assert counts.dtype == np.int64
        assert [(-int(n), w.encode()) for w, n in zip(words, counts)] == expect, cut
        assert (c.n_tokens, c.n_sentences, c.n_distinct) == (ntok, nsent, len(ref))


def test_counter_random_chunkings_and_min_count():
    rng = np.random.default_rng(0)
    vocab = [b"a", b"bb", b"ccc", b"d\xc3\xa9", b"e"]
    text = b"".join(vocab[i] + (b"\n" if rng.random() < 0.1 else b" ")
                    for i in rng.integers(0, 5, 3000))
    ref, ntok, nsent = counts_ref(text)
    for _ in range(5):
        c = _C.TokenCounter()
        feed(c, text, rng.integers(0, len(text), 40))
        words, counts = c.items(min_count=600)
        assert all(n >= 600 for n in counts)
        assert {w.encode(): int(n) for w, n in zip(words, counts)} == {
            w: n for w, n in ref.items() if n >= 600}
        assert list(counts) == sorted(counts, reverse=True)
        assert c.n_tokens == ntok and c.n_sentences == nsent


def test_counter_ties_by_bytes_and_utf8():
    c = _C.TokenCounter()
    c.add("zeta \u00e9t\u00e9 alpha \u65e5 Beta\n".encode(), final=True)
    words, counts = c.items()
    assert words == sorted(words, key=lambda w: w.encode())  # all counts are 1
    assert "\u00e9t\u00e9" in words and "\u65e5" in words


def test_counter_multibyte_char_cut_by_chunk():
    text = "\u65e5\u672c x \u00e9\n".encode()
    for cut in range(len(text)):
        c = _C.TokenCounter()
        feed(c, text, [cut])
        assert sorted(c.items()[0]) == sorted(["\u65e5\u672c", "x", "\u00e9"])


@pytest.mark.parametrize("bad,offset", [(b"ok \xff\xfe x", 3), (b"a\nb \xc3(", 4),
                                        (b"\xed\xa0\x80", 0), (b"xx \xf0\x9f\x98", 3)])
def test_counter_rejects_invalid_utf8_naming_offset(bad, offset):
    c = _C.TokenCounter()
    with pytest.raises(ValueError, match=f"UTF-8.*offset {offset}"):
        c.add(bad, final=True)


def test_counter_rejects_nul():
    c = _C.TokenCounter()
    c.add(b"fine words\n")
    with pytest.raises(ValueError, match="NUL byte at offset 15.*binary file"):
        c.add(b"and \x00 then")


def test_counter_empty_and_whitespace_input():
    for text in (b"", b"   \n\n\t \r\n"):
        c = _C.TokenCounter()
        c.add(text, final=True)
        words, counts = c.items()
        assert words == [] and counts.shape == (0,)
        assert c.n_tokens == 0 and c.n_sentences == 0


def test_counter_argument_errors():
    c = _C.TokenCounter()
    with pytest.raises(TypeError, match="chunk must be bytes"):
        c.add("text")
    with pytest.raises(TypeError, match="chunk"):
        c.add(123)
    with pytest.raises(ValueError, match="min_count"):
        c.items(min_count=-1)
    c.add(bytearray(b"from a bytearray"), final=True)  # any bytes-like object
    c2 = _C.TokenCounter()
    c2.add(memoryview(b"from a view"), final=True)
    assert c.n_tokens == 3 and c2.n_tokens == 3


# ------------------------------------------------------------------------------ encoder


def encode_ref(text, words, max_len=10000):
    index = {w.encode(): i for i, w in enumerate(words)}
    ids, ends = [], []
    for line in ref_lines(text):
        sent = [index[t] for t in line if t in index]
        for k in range(0, len(sent), max_len):
            ids += sent[k:k + max_len]
            ends.append(len(ids))
    return ids, ends


def join_encoded(outs):
    ids, ends = [], []
    for a, e in outs:
        assert a.dtype == np.int32 and e.dtype == np.int64
        ends += [len(ids) + int(x) for x in e]
        ids += a.tolist()
    return ids, ends


def test_encoder_matches_reference_at_every_cut():
    words = ["the", "sat", "caf\u00e9", "end", "last", "log"]
    ref = encode_ref(TEXT, words)
    for cut in range(len(TEXT) + 1):
        e = _C.TokenEncoder(words)
        assert join_encoded(feed(e, TEXT, [cut], "encode")) == ref, cut


def test_encoder_keeps_the_open_line_and_splits_long_sentences():
    e = _C.TokenEncoder(["a", "b"])
    ids, ends = e.encode(b"a b c\nb a")
    assert ids.tolist() == [0, 1] and ends.tolist() == [2]  # "b a" waits for its newline
    ids, ends = e.encode(b"", final=True)
    assert ids.tolist() == [1, 0] and ends.tolist() == [2]
    long_line = b" ".join([b"a", b"zz"] * 12000) + b"\n"
    ids, ends = _C.TokenEncoder(["a"]).encode(long_line)
    assert ends.tolist() == [10000, 12000] and (ids == 0).all()
    # Memory stays bounded on a file without newlines: ids come out every 10000 tokens.
    e = _C.TokenEncoder(["a"])
    got = sum(len(e.encode(b"a " * 4000)[0]) for _ in range(10))
    assert got == 40000 - 40000 % 10000


def test_encoder_vocabulary_and_errors():
    e = _C.TokenEncoder(["x", "y\u00e9"])
    assert len(e) == 2 and e.lookup("y\u00e9") == 1 and e.lookup("nope") == -1
    with pytest.raises(ValueError, match="duplicate.*'x'"):
        _C.TokenEncoder(["x", "y", "x"])
    with pytest.raises(TypeError):
        _C.TokenEncoder(["x", 3])
    with pytest.raises(ValueError, match="NUL"):
        e.encode(b"x\x00")


# ------------------------------------------------------------------------------ samplers


def chi2_ok(observed, expected):
    """Pearson chi-square over bins with expected >= 5 (the rest pooled), against the library's
    CHI2_N_SIGMA criterion; also every bin within N_SIGMA binomial sd."""
    observed = np.asarray(observed, np.float64)
    expected = np.asarray(expected, np.float64)
    n = observed.sum()
    sd = np.sqrt(expected * (1 - expected / n))
    assert (np.abs(observed - expected) <= N_SIGMA * sd + 1e-9).all()
    big = expected >= 5
    obs = np.append(observed[big], observed[~big].sum())
    exp = np.append(expected[big], expected[~big].sum())
    keep = exp > 0
    stat = (((obs - exp) ** 2)[keep] / exp[keep]).sum()
    df = keep.sum() - 1
    assert stat < df + CHI2_N_SIGMA * np.sqrt(2 * df), (stat, df)


def zipf_weights(V, s=1.1):
    return 1.0 / np.arange(1, V + 1) ** s


def test_alias_table_is_exact():
    rng = np.random.default_rng(3)
    for w in (zipf_weights(1000), rng.random(77), np.array([0.0, 5.0, 0.0, 1.0]), np.ones(1)):
        prob, alias = _C.alias_build(w)
        assert prob.dtype == np.float32 and alias.dtype == np.int32
        V = len(w)
        p = prob.astype(np.float64) / V
        np.add.at(p, alias, (1.0 - prob.astype(np.float64)) / V)
        np.testing.assert_allclose(p, w / w.sum(), atol=1e-7 / V * 10)
        assert ((prob >= 0) & (prob <= 1)).all() and ((alias >= 0) & (alias < V)).all()


def test_alias_sampler_distribution(threads):
    V, n = 200, 400_000
    w = zipf_weights(V) ** 0.75
    prob, alias = _C.alias_build(w)
    draws = _C.alias_sample(prob, alias, n, seed=12345)
    assert draws.dtype == np.int32 and draws.min() >= 0 and draws.max() < V
    chi2_ok(np.bincount(draws, minlength=V), n * w / w.sum())


def test_alias_sampler_reproducible_and_counter_based(threads):
    prob, alias = _C.alias_build(zipf_weights(50))
    a = _C.alias_sample(prob, alias, 100_001, seed=7, counter=3)
    np.testing.assert_array_equal(a, _C.alias_sample(prob, alias, 100_001, seed=7, counter=3))
    np.testing.assert_array_equal(a[10:], _C.alias_sample(prob, alias, 100_001 - 10, 7, 13))
    np.testing.assert_array_equal(a, _C.alias_sample(prob, alias, 100_001, 7, 3, naive=True))
    for nt in (1, 2, 3):
        lf.set_num_threads(nt)
        np.testing.assert_array_equal(a, _C.alias_sample(prob, alias, 100_001, 7, 3))
    b = _C.alias_sample(prob, alias, 100_001, seed=8, counter=3)
    assert (a == b).mean() < 0.5  # another seed: other draws (equal only by chance)


def test_log_uniform_sampler_distribution():
    V, n = 1000, 400_000
    draws = _C.log_uniform_sample(V, n, seed=99)
    assert draws.min() >= 0 and draws.max() < V
    k = np.arange(V)
    p = np.log((k + 2) / (k + 1)) / np.log(V + 1)
    chi2_ok(np.bincount(draws, minlength=V), n * p)
    np.testing.assert_array_equal(draws[5:], _C.log_uniform_sample(V, n - 5, 99, 5))
    assert (_C.log_uniform_sample(1, 10, 0) == 0).all()


def test_sampler_argument_errors():
    prob, alias = _C.alias_build(np.ones(4))
    for w, msg in ((np.array([1.0, -1.0]), ">= 0"), (np.array([np.nan]), "finite"),
                   (np.zeros(3), "positive"), (np.zeros(0), "empty")):
        with pytest.raises(ValueError, match=msg):
            _C.alias_build(w)
    with pytest.raises(TypeError, match="weights must be a float64"):
        _C.alias_build(np.ones(3, np.float32))
    with pytest.raises(ValueError, match="alias must lie in"):
        _C.alias_sample(prob, np.array([0, 1, 2, 4], np.int32), 5, 0)
    with pytest.raises(ValueError, match="prob must lie in"):
        _C.alias_sample(np.array([0.5, 1.5, 1, 1], np.float32), alias, 5, 0)
    with pytest.raises(ValueError, match="alias must have the shape"):
        _C.alias_sample(prob, alias[:3], 5, 0)
    with pytest.raises(ValueError, match="n must be"):
        _C.alias_sample(prob, alias, -1, 0)
    with pytest.raises(ValueError, match="seed"):
        _C.alias_sample(prob, alias, 1, -1)
    with pytest.raises(ValueError, match="V must be"):
        _C.log_uniform_sample(0, 5, 0)


# ------------------------------------------------------------------------------ training


def noise_tables(counts):
    w = np.asarray(counts, np.float64) ** 0.75
    prob, alias = _C.alias_build(w)
    return prob, alias, np.log(w / w.sum()).astype(np.float32)


def train(s0, s1, bias, ids, ends, keep, noise, logq, **kw):
    args = dict(sg=True, loss="negative", negative=5, window=5, alpha=0.025, alpha_end=0.0001,
                seed=0, counter=0, remove_accidental_hits=True, batched=False, num_threads=1)
    args.update(kw)
    prob, alias = noise if noise is not None else (None, None)
    return _C.word2vec_train(s0, s1, bias, ids, ends, keep, prob, alias, logq, **args)


def w2v_reference_window1(s0, s1, bias, ids, ends, noise, logq, *, sg, loss, negative, alpha,
                          alpha_end, seed, counter, remove_accidental_hits, batched):
    """float64 numpy word2vec with window=1 (the window draw cannot reduce it) and no
    subsampling, the updates written out as the math of ops/word2vec.h; the noise words come
    from the samplers at the training's draw indices."""
    s0, s1 = s0.astype(np.float64), s1.astype(np.float64)
    b = None if bias is None else bias.astype(np.float64)
    V, k, n = s0.shape[0], negative, len(ids)
    M = k * (2 if sg and not batched else 1)
    nce = loss == "nce"
    skip = not nce or remove_accidental_hits

    def draws(g0):
        if noise is None:
            return _C.log_uniform_sample(V, k, seed, g0)
        return _C.alias_sample(noise[0], noise[1], k, seed, g0)

    def logit(v, t):
        s = v @ s1[t] + (b[t] if b is not None else 0.0)
        return s - (np.log(k) + float(logq[t]) if nce else 0.0)

    def xent(s, label):
        return np.logaddexp(0, -s) if label else np.logaddexp(0, s)

    total, pairs, start = 0.0, 0, 0
    for end in ends:
        for i in range(start, end):
            ctx = [x for x in (i - 1, i + 1) if start <= x < end]
            if not ctx:
                continue
            lr = alpha + (alpha_end - alpha) * i / n
            c = ids[i]
            t = counter + i
            if sg and batched:
                targets = [c] + list(draws(t * M))
                live = [True] + [not (w == c and skip) for w in targets[1:]]
                X = s0[[ids[x] for x in ctx]]
                G = np.zeros((len(ctx), k + 1))
                for a in range(len(ctx)):
                    for r, w in enumerate(targets):
                        if live[r]:
                            s = logit(X[a], w)
                            total += xent(s, r == 0)
                            G[a, r] = ((r == 0) - 1 / (1 + np.exp(-s))) * lr
                T = s1[targets].copy()
                for r, w in enumerate(targets):
                    s1[w] += G[:, r] @ X
                    if b is not None:
                        b[w] += G[:, r].sum()
                for a, x in enumerate(ctx):
                    s0[ids[x]] += G[a] @ T
                pairs += len(ctx)
                continue
            def pair(v, rows, noise_words, c=c, lr=lr):
                nonlocal total, pairs
                e = np.zeros_like(v)
                for r, w in enumerate([c, *noise_words]):
                    if r > 0 and w == c and skip:
                        continue
                    s = logit(v, w)
                    total += xent(s, r == 0)
                    g = ((r == 0) - 1 / (1 + np.exp(-s))) * lr
                    e += g * s1[w]
                    s1[w] += g * v
                    if b is not None:
                        b[w] += g
                for row in rows:
                    s0[row] += e
                pairs += 1

            if sg:
                for x in ctx:
                    slot = 0 if x < i else 1  # window 1: offsets -1 -> 0, +1 -> 1
                    pair(s0[ids[x]].copy(), [ids[x]], draws(t * M + slot * k))
            else:
                pair(np.mean([s0[ids[x]] for x in ctx], axis=0), [ids[x] for x in ctx],
                     draws(t * M))
        start = end
    return s0, s1, b, total, pairs


def toy_job(seed=0, V=23, D=11, n=300, sent=13):
    rng = np.random.default_rng(seed)
    ids = rng.zipf(1.3, n).clip(1, V).astype(np.int32) - 1
    ends = np.append(np.arange(sent, n, sent), n).astype(np.int64)
    s0 = ((rng.random((V, D)) - 0.5) / D).astype(np.float32)
    s1 = (rng.standard_normal((V, D)) * 0.1).astype(np.float32)
    counts = np.bincount(ids, minlength=V) + 1
    return ids, ends, s0, s1, counts


VARIANTS = [dict(sg=sg, loss=loss, batched=bat)
            for sg in (True, False) for loss in ("negative", "nce")
            for bat in ((False, True) if sg else (False,))]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(map(str, v.values())))
@pytest.mark.parametrize("noise_kind", ["alias", "log_uniform"])
def test_train_matches_float64_reference(variant, noise_kind):
    ids, ends, s0, s1, counts = toy_job()
    prob, alias, logq = noise_tables(counts)
    noise = (prob, alias) if noise_kind == "alias" else None
    if noise is None:
        k = np.arange(len(counts))
        logq = np.log(np.log((k + 2) / (k + 1)) / np.log(len(counts) + 1)).astype(np.float32)
    bias = (np.random.default_rng(1).standard_normal(len(counts)) * 0.1).astype(np.float32)
    bias = bias if variant["loss"] == "nce" else None
    kw = dict(negative=4, alpha=0.05, alpha_end=0.01, seed=5, counter=1000,
              remove_accidental_hits=variant["loss"] == "negative", **variant)
    r0, r1, rb, rloss, rpairs = w2v_reference_window1(s0, s1, bias, ids, ends, noise, logq, **kw)
    for naive in (True, False):
        a0, a1 = s0.copy(), s1.copy()
        ab = None if bias is None else bias.copy()
        loss, words, pairs = train(a0, a1, ab, ids, ends, None, noise, logq, window=1,
                                   naive=naive, **kw)
        assert (words, pairs) == (len(ids), rpairs)
        np.testing.assert_allclose(loss, rloss, rtol=1e-5)
        np.testing.assert_allclose(a0, r0, atol=W2V_TRAIN_ATOL)
        np.testing.assert_allclose(a1, r1, atol=W2V_TRAIN_ATOL)
        if bias is not None:
            np.testing.assert_allclose(ab, rb, atol=W2V_TRAIN_ATOL)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(map(str, v.values())))
def test_optimized_matches_naive_with_window_and_subsampling(isa, variant):
    """Full dynamic window and subsampling: same draws, so the same pairs; float32 vs double
    arithmetic, so the vectors agree to W2V_TRAIN_ATOL (a few float32 ulps of 0.1-sized values
    accumulated over ~10^4 updates), not bitwise."""
    ids, ends, s0, s1, counts = toy_job(seed=2, n=1500, sent=37)
    prob, alias, logq = noise_tables(counts)
    keep = np.random.default_rng(3).uniform(0.3, 1.0, len(counts)).astype(np.float32)
    bias = np.zeros(len(counts), np.float32) if variant["loss"] == "nce" else None
    out = []
    for naive in (True, False):
        a0, a1 = s0.copy(), s1.copy()
        ab = None if bias is None else bias.copy()
        res = train(a0, a1, ab, ids, ends, keep, (prob, alias), logq, naive=naive, seed=9,
                    **variant)
        out.append((res, a0, a1, ab))
    (rn, n0, n1, nb), (ro, o0, o1, ob) = out
    assert rn[1:] == ro[1:]
    np.testing.assert_allclose(ro[0], rn[0], rtol=1e-5)
    np.testing.assert_allclose(o0, n0, atol=W2V_TRAIN_ATOL)
    np.testing.assert_allclose(o1, n1, atol=W2V_TRAIN_ATOL)
    if nb is not None:
        np.testing.assert_allclose(ob, nb, atol=W2V_TRAIN_ATOL)


def test_train_is_reproducible_at_one_thread_and_counter_matters():
    ids, ends, s0, s1, counts = toy_job(n=2000)
    prob, alias, logq = noise_tables(counts)
    runs = []
    for counter in (0, 0, 7):
        a0, a1 = s0.copy(), s1.copy()
        runs.append((train(a0, a1, None, ids, ends, None, (prob, alias), None, counter=counter),
                     a0, a1))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    np.testing.assert_array_equal(runs[0][2], runs[1][2])
    assert not np.array_equal(runs[0][1], runs[2][1])


def test_pairs_and_words_counts_exact():
    ids, ends, s0, s1, counts = toy_job(n=500, sent=7)
    lens = np.diff(np.append(0, ends))
    prob, alias, _ = noise_tables(counts)
    r = train(s0.copy(), s1.copy(), None, ids, ends, None, (prob, alias), None, window=1)
    assert r[1:] == (500, int((2 * (lens - 1)).sum()))
    r = train(s0.copy(), s1.copy(), None, ids, ends, None, (prob, alias), None, window=1, sg=False)
    assert r[1:] == (500, int(lens[lens > 1].sum()))
    # keep_prob 0 drops every token: nothing trained, nothing changed.
    a0, a1 = s0.copy(), s1.copy()
    r = train(a0, a1, None, ids, ends, np.zeros(len(counts), np.float32), (prob, alias), None)
    assert r == (0.0, 500, 0)
    np.testing.assert_array_equal(a0, s0)
    np.testing.assert_array_equal(a1, s1)
    # An empty job.
    assert train(s0, s1, None, np.zeros(0, np.int32), np.zeros(0, np.int64), None,
                 (prob, alias), None) == (0.0, 0, 0)


def planted_corpus(seed, n_sent=1500, group=8, length=10):
    """Two groups of words; each sentence uses one group only."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 2, n_sent)
    ids = (g[:, None] * group + rng.integers(0, group, (n_sent, length))).astype(np.int32)
    return ids.ravel(), np.arange(length, n_sent * length + 1, length, dtype=np.int64)


@pytest.mark.parametrize("loss", ["negative", "nce"])
@pytest.mark.parametrize("sg", [True, False])
def test_training_learns_planted_groups_and_loss_goes_down(loss, sg):
    V, D = 16, 12
    ids, ends = planted_corpus(0)
    rng = np.random.default_rng(1)
    s0 = ((rng.random((V, D)) - 0.5) / D).astype(np.float32)
    s1 = np.zeros((V, D), np.float32)
    bias = np.zeros(V, np.float32) if loss == "nce" else None
    prob, alias, logq = noise_tables(np.bincount(ids, minlength=V))
    # The loss before training: a pass with a zero learning rate.
    r0 = train(s0.copy(), s1.copy(), None if bias is None else bias.copy(), ids, ends, None,
               (prob, alias), logq, sg=sg, loss=loss, window=3, alpha=0.0, alpha_end=0.0)
    losses = [r0[0] / r0[2]]
    for epoch in range(4):
        total, words, pairs = train(s0, s1, bias, ids, ends, None, (prob, alias), logq, sg=sg,
                                    loss=loss, negative=5, window=3, alpha=0.05,
                                    alpha_end=0.02, counter=epoch * len(ids))
        losses.append(total / pairs)
    assert losses[-1] < 0.75 * losses[0] and losses[-1] < losses[1], losses
    x = s0 / np.linalg.norm(s0, axis=1, keepdims=True)
    cos = x @ x.T
    same = np.equal.outer(np.arange(V) // 8, np.arange(V) // 8)
    within = cos[same & ~np.eye(V, dtype=bool)].mean()
    across = cos[~same].mean()
    assert within > across + 0.5, (within, across)


def test_threads_hogwild_behaviour(threads):
    """More threads: shards of sentences trained at once without locks. The draws depend only
    on token positions, so words and pairs are exactly those of one thread; the vectors and the
    loss differ from run to run (the updates race, as in word2vec.c), but stay close."""
    ids, ends, s0, s1, counts = toy_job(n=20000, sent=20, V=50, D=16)
    prob, alias, _ = noise_tables(counts)
    base = train(s0.copy(), s1.copy(), None, ids, ends, None, (prob, alias), None)
    for nt in (2, 3):
        a0 = s0.copy()
        r = train(a0, s1.copy(), None, ids, ends, None, (prob, alias), None, num_threads=nt)
        assert r[1:] == base[1:]
        assert np.isfinite(a0).all()
        np.testing.assert_allclose(r[0], base[0], rtol=0.05)
    lf.set_num_threads(2)
    assert train(s0.copy(), s1.copy(), None, ids, ends, None, (prob, alias), None,
                 num_threads=-1)[1:] == base[1:]


def test_train_argument_errors():
    ids, ends, s0, s1, counts = toy_job(n=50, sent=10)
    prob, alias, logq = noise_tables(counts)
    V = len(counts)
    ok = dict(s0=s0, s1=s1, bias=None, ids=ids, ends=ends, keep=None, noise=(prob, alias),
              logq=logq)

    def call(**over):
        a = {**ok, **over}
        kw = {k: v for k, v in over.items() if k not in ok}
        return train(a["s0"], a["s1"], a["bias"], a["ids"], a["ends"], a["keep"], a["noise"],
                     a["logq"], **kw)

    cases = [
        (dict(window=0), ValueError, "window"),
        (dict(negative=0), ValueError, "negative"),
        (dict(loss="hinge"), ValueError, "loss"),
        (dict(num_threads=0), ValueError, "num_threads"),
        (dict(ids=ids.astype(np.int64)), TypeError, "ids"),
        (dict(ids=np.where(ids == ids[3], V, ids).astype(np.int32)), ValueError, "ids must lie"),
        (dict(ids=np.where(ids == ids[3], -1, ids).astype(np.int32)), ValueError, "ids must lie"),
        (dict(ends=ends[::-1].copy()), ValueError, "sent_ends"),
        (dict(ends=ends[:-1].copy()), ValueError, "sent_ends must end"),
        (dict(s1=s1[:-1].copy()), ValueError, "syn0 and syn1"),
        (dict(s0=s0.astype(np.float64)), TypeError, "syn0"),
        (dict(s0=np.asfortranarray(s0)), ValueError, "syn0 must be C-contiguous"),
        (dict(bias=np.zeros(V + 1, np.float32)), ValueError, "bias"),
        (dict(keep=np.ones(3, np.float32)), ValueError, "keep_prob"),
        (dict(noise=(prob, None)), ValueError, "noise_prob and noise_alias"),
        (dict(logq=None, loss="nce"), ValueError, "noise_logq"),
        (dict(s1=s0), ValueError, "share memory"),
        (dict(seed=-1), ValueError, "seed"),
    ]
    for over, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            call(**over)
    ro = s0.copy()
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="syn0 must be writable"):
        call(s0=ro)
