"""Word2Vec on a CUDA device (issue 13), tested without a GPU.

The ``fake_device`` fixture (tests/_fakedevice.py) plays the device with host memory: a strict
fake CuPy and a fake ``_C.device`` that refuses host pointers. Its ``word2vec_train`` runs the
CUDA kernel's own source through the emulator (``latentforge._emu``, the shards one after
another), so the device results are compared

* bit for bit with the host code path whose kernel is swapped for that same emulated CUDA
  kernel (same jobs, learning rates, counters, noise and subsampling tables, shards): this
  checks every pointer, size and argument the device path passes;
* up to float32 rounding with the host's own CPU kernel (classic updates, one worker), with
  exactly the same words and pairs: the two kernels are documented to agree only that far
  (tests/ops/test_word2vec_cuda.py), and the host trains skip-gram with its batched variant,
  which the CUDA kernel does not have (so the skip-gram comparison switches the host to the
  classic updates).

The emulator is slow (about half a millisecond per token here): the corpora are a few thousand
tokens.
"""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest

import latentforge as lf
from latentforge import _C, _device
from latentforge.models import word2vec as w2v
from latentforge.testing import W2V_TRAIN_ATOL

_emu = pytest.importorskip("latentforge._emu", reason="the CUDA emulator is not built")

KW = dict(vector_size=12, min_count=1, window=2, negative=2, epochs=2, batch_words=200, seed=1)
VARIANTS = [dict(sg=1), dict(sg=0, loss="nce", noise="log_uniform")]


def _corpus(n=80, seed=0):
    rng = np.random.default_rng(seed)
    return [[f"w{int(z)}" for z in rng.zipf(1.5, 12).clip(1, 60)] for _ in range(n)]


def _emulated_host_kernel(monkeypatch):
    """``_C.word2vec_train`` replaced by the emulated CUDA kernel (shards = the host's
    threads); returns the list of its calls' token counts."""
    calls = []

    def kernel(*args, batched, num_threads, naive=False, **kw):
        calls.append(len(args[3]))
        return _emu.word2vec_train_cuda(*args, blocks=num_threads, **kw)

    monkeypatch.setattr(_C, "word2vec_train", kernel)
    return calls


def _variant_id(v):
    return "-".join(f"{k}={x}" for k, x in v.items())


@pytest.mark.parametrize("variant", VARIANTS, ids=_variant_id)
def test_device_training_is_the_cuda_kernel_on_the_host_jobs(fake_device, monkeypatch, variant):
    sents = _corpus()
    dev = lf.models.Word2Vec(sents, device="cuda", workers=2, **KW, **variant)
    assert dev.device_ == "cuda:0"
    launched = fake_device.entries.names()
    calls = _emulated_host_kernel(monkeypatch)
    host = lf.models.Word2Vec(sents, workers=2, **KW, **variant)
    assert host.device_ == "cpu"
    assert launched == ["word2vec_train"] * len(calls) and len(calls) > 2
    # The model's arrays are host arrays, updated in place (wv shares them).
    for name in ("vectors_", "syn1_", "keep_prob_"):
        assert type(getattr(dev, name)) is np.ndarray
    assert dev.wv.vectors is dev.vectors_
    np.testing.assert_array_equal(dev.vectors_, host.vectors_)
    np.testing.assert_array_equal(dev.syn1_, host.syn1_)
    if variant.get("loss") == "nce":
        assert type(dev.bias_) is np.ndarray and dev.bias_.any()
        np.testing.assert_array_equal(dev.bias_, host.bias_)
    assert dev.history_["loss"] == host.history_["loss"]
    assert dev.words_trained_ == host.words_trained_ == 2 * host.train_words_
    assert dev._counter == host._counter
    assert dev.wv.most_similar("w1", topn=3) == host.wv.most_similar("w1", topn=3)


@pytest.mark.parametrize("variant", [dict(sg=1), dict(sg=0, loss="nce")], ids=_variant_id)
def test_device_matches_the_host_kernel_up_to_float32_rounding(fake_device, monkeypatch,
                                                               variant):
    sents = _corpus(60, seed=1)
    if variant["sg"]:
        monkeypatch.setattr(w2v, "_BATCHED", False)  # the CUDA kernel's classic updates
    kw = dict(KW, workers=1, **variant)  # one shard: the serial order, on a GPU too
    dev = lf.models.Word2Vec(device="cuda", **kw).build_vocab(sents)
    host = lf.models.Word2Vec(**kw).build_vocab(sents)
    assert dev.train(sents) == host.train(sents)  # the same words and pairs, exactly
    assert "word2vec_train" in fake_device.entries.names()
    np.testing.assert_allclose(dev.vectors_, host.vectors_, rtol=0, atol=W2V_TRAIN_ATOL)
    np.testing.assert_allclose(dev.syn1_, host.syn1_, rtol=0, atol=W2V_TRAIN_ATOL)
    if dev.bias_ is not None:
        np.testing.assert_allclose(dev.bias_, host.bias_, rtol=0, atol=W2V_TRAIN_ATOL)
    np.testing.assert_allclose(dev.history_["loss"], host.history_["loss"], rtol=1e-6)
    assert not np.array_equal(dev.vectors_, lf.models.Word2Vec(**kw).build_vocab(sents).vectors_)


def test_corpus_file_on_the_device(fake_device, tmp_path):
    sents = _corpus(50, seed=2)
    path = tmp_path / "corpus.txt"
    path.write_text("".join(" ".join(s) + "\n" for s in sents), encoding="utf-8")
    kw = dict(KW, epochs=1, device="cuda")
    from_file = lf.models.Word2Vec(corpus_file=path, **kw)
    from_list = lf.models.Word2Vec(sents, **kw)
    assert from_file.index_to_key_ == from_list.index_to_key_
    np.testing.assert_array_equal(from_file.vectors_, from_list.vectors_)
    assert from_file.history_["loss"] == from_list.history_["loss"]


def test_device_model_saves_loads_and_trains_further(fake_device, tmp_path, capsys):
    sents = _corpus(40, seed=3)
    m = lf.models.Word2Vec(sents, device="cuda", verbose=1, **dict(KW, epochs=1))
    assert "Word2Vec epoch 1/1" in capsys.readouterr().err  # progress, words/s, loss
    m.save(tmp_path / "m.npz")
    again = lf.load(tmp_path / "m.npz")
    assert again.device == "cuda" and again.device_ == "cuda:0"
    np.testing.assert_array_equal(again.wv.vectors, m.wv.vectors)
    assert again.wv.most_similar("w1", topn=3) == m.wv.most_similar("w1", topn=3)
    m.wv.save_word2vec_format(tmp_path / "v.txt")
    loaded = lf.models.KeyedVectors.load_word2vec_format(tmp_path / "v.txt")
    np.testing.assert_array_equal(loaded.vectors, m.wv.vectors)
    # Further training: on the device again (the host arrays uploaded anew), then on the host.
    before = again.vectors_.copy()
    n = len(fake_device.entries.names())
    again.verbose = 0
    words, _ = again.train(sents, epochs=1)
    assert words == again.train_words_ and again.words_trained_ == 2 * again.train_words_
    assert len(fake_device.entries.names()) > n
    assert not np.array_equal(before, again.vectors_)
    again.set_params(device="cpu").train(sents, epochs=1)
    assert again.device_ == "cpu" and again.epochs_trained_ == 3


def test_workers_are_shards_on_the_device(fake_device, monkeypatch):
    blocks = []
    train = fake_device.entries.word2vec_train

    def spy(*args):
        blocks.append(args[15])  # (device, stream, syn0, ..., D, blocks, ...)
        return train(*args)

    monkeypatch.setattr(fake_device.entries, "word2vec_train", spy)
    sents = _corpus(40, seed=4)
    lf.models.Word2Vec(sents, device="cuda", **dict(KW, epochs=1))
    assert blocks == [w2v.DEVICE_WORKERS]  # None: DEVICE_WORKERS shards, one job of them all
    blocks.clear()
    lf.models.Word2Vec(sents, device="cuda", workers=3, **dict(KW, epochs=1, batch_words=100))
    assert set(blocks) == {3} and len(blocks) > 1  # jobs of batch_words * workers words


def test_ctrl_c_while_waiting_for_the_device_keeps_the_job(fake_device, monkeypatch):
    sents = _corpus(50, seed=5)
    m = lf.models.Word2Vec(device="cuda", workers=1, **dict(KW, epochs=1, batch_words=100))
    m.build_vocab(sents)
    initial = m.vectors_.copy()
    seen = []
    collect = w2v._DeviceTrainer.collect

    def interrupted(pending):
        seen.append(pending[2])
        if len(seen) == 2:
            raise KeyboardInterrupt  # Ctrl-C while the host waits for job 2
        return collect(pending)

    monkeypatch.setattr(w2v._DeviceTrainer, "collect", staticmethod(interrupted))
    with pytest.raises(KeyboardInterrupt):
        m.train(sents)
    assert m.interrupted_ and m.epochs_trained_ == 0
    # Job 2 finished on the device: its updates were copied back and it is counted.
    assert m.words_trained_ == seen[0] + seen[1] == m._counter
    assert len(fake_device.entries.names()) == 2
    assert np.isfinite(m.vectors_).all() and not np.array_equal(m.vectors_, initial)
    monkeypatch.setattr(w2v._DeviceTrainer, "collect", staticmethod(collect))
    m.train(sents, epochs=1)
    assert not m.interrupted_ and m.epochs_trained_ == 1


def test_device_errors(fake_device):
    sents = _corpus(20, seed=6)
    with pytest.raises(ValueError, match="device must be None, 'cpu', 'cuda' or 'cuda:N'"):
        lf.models.Word2Vec(sents, device="gpu", min_count=1)
    with pytest.raises(ValueError, match="CUDA device 3 is out of range"):
        lf.models.Word2Vec(sents, device="cuda:3", min_count=1)
    with pytest.raises(ValueError, match="vector_size must be at most 1024 on a CUDA device"):
        lf.models.Word2Vec(sents, device="cuda", min_count=1, vector_size=1025)
    with pytest.raises(ValueError, match="window must be in"):
        lf.models.Word2Vec(sents, device="cuda", min_count=1, window=5000)
    assert fake_device.entries.names() == []  # refused before any launch
    m = lf.models.Word2Vec(min_count=1, vector_size=8, device="cuda").build_vocab(sents)
    with pytest.raises(ValueError, match="no in-vocabulary word"):
        m.train([["unknown", "words"]])
    assert m.device_ == "cuda:0" and type(m.vectors_) is np.ndarray


@pytest.mark.skipif(_C.cuda_compiled() and _C.cuda_device_count() > 0,
                    reason="a CUDA device exists here")
def test_device_cuda_without_a_gpu_is_a_clear_error(tmp_path):
    sents = _corpus(20, seed=7)
    with pytest.raises(RuntimeError, match="built without CUDA|no CUDA device was found"):
        lf.models.Word2Vec(sents, device="cuda", min_count=1)
    m = lf.models.Word2Vec(min_count=1, vector_size=8).build_vocab(sents)
    m.device = "cuda"
    with pytest.raises(RuntimeError, match="built without CUDA|no CUDA device was found"):
        m.train(sents)
    assert m.words_trained_ == 0


def test_fake_alias_sample_gives_the_cuda_sampler_draws(fake_device):
    rng = np.random.default_rng(8)
    prob, alias = _C.alias_build(rng.random(37) ** 3)
    d_prob, d_alias = fake_device.to(prob), fake_device.to(alias)
    for table in (True, False):
        out = fake_device.cupy.zeros(500, np.int32)
        fake_device.entries.alias_sample(
            0, 0, _device.ptr(out), _device.ptr(d_prob) if table else 0,
            _device.ptr(d_alias) if table else 0, 37, 500, 11, 2**40 + 3)
        expected = _emu.word2vec_noise_sample_cuda(prob if table else None,
                                                   alias if table else None, 37, 500, 11,
                                                   2**40 + 3)
        np.testing.assert_array_equal(out.get(), expected)


@pytest.mark.parametrize("entry", ["word2vec_train", "alias_sample"])
def test_fake_entries_have_the_binding_signatures(entry):
    real = getattr(getattr(_C, "device", None), entry, None)
    if real is None:
        pytest.skip("this build has no CUDA device entries")
    names = re.findall(r"(\w+): ", real.__doc__.split("->")[0].split("(", 1)[1])
    from _fakedevice import FakeDeviceEntries

    fake = inspect.signature(getattr(FakeDeviceEntries, entry)).parameters
    assert list(fake)[1:] == names
