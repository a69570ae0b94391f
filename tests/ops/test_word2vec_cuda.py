"""The CUDA word2vec kernels (csrc/ops/word2vec_cuda.cuh) run on the CPU through the emulator
(module ``latentforge._emu``) against the CPU kernels.

The noise sampler must give exactly the CPU sampler's draws for the same (seed, counter): both
evaluate the same Philox words (ops/word2vec_draws.h). The training kernel splits the job into
blocks of sentences as the CPU driver splits it into threads; the emulator runs blocks one after
another, so under the "forward" block order it is the serial schedule and must match the naive
reference up to float32 rounding (its dot products are block tree sums, a different order from
the CPU's), with exactly the same pairs. Other schedules reorder the threads inside a block
(a missing barrier would show), with one block so the serial order still holds.
"""

import numpy as np
import pytest

from latentforge import _C, _emu
from latentforge.testing import W2V_TRAIN_ATOL

SCHEDULES = [("forward", 0), ("reverse", 0), ("shuffled", 1), ("concurrent", 0)]


@pytest.mark.parametrize("schedule,seed", SCHEDULES)
def test_noise_sampler_same_draws_as_cpu(schedule, seed):
    rng = np.random.default_rng(0)
    w = rng.random(37) ** 3
    prob, alias = _C.alias_build(w)
    n = 300 if schedule == "concurrent" else 777
    for counter in (0, 5, 2**40 + 3):
        cpu = _C.alias_sample(prob, alias, n, seed=11, counter=counter)
        emu = _emu.word2vec_noise_sample_cuda(prob, alias, 37, n, 11, counter, schedule, seed)
        np.testing.assert_array_equal(emu, cpu)
        cpu = _C.log_uniform_sample(1000, n, seed=11, counter=counter)
        emu = _emu.word2vec_noise_sample_cuda(None, None, 1000, n, 11, counter, schedule, seed)
        np.testing.assert_array_equal(emu, cpu)


def job(n, V=19, D=13, sent=9, seed=0):
    rng = np.random.default_rng(seed)
    ids = (rng.zipf(1.3, n).clip(1, V) - 1).astype(np.int32)
    ends = np.append(np.arange(sent, n, sent), n).astype(np.int64)
    s0 = ((rng.random((V, D)) - 0.5) / D).astype(np.float32)
    s1 = (rng.standard_normal((V, D)) * 0.1).astype(np.float32)
    counts = np.bincount(ids, minlength=V) + 1.0
    q = counts**0.75
    prob, alias = _C.alias_build(q)
    logq = np.log(q / q.sum()).astype(np.float32)
    keep = rng.uniform(0.4, 1.0, V).astype(np.float32)
    return ids, ends, s0, s1, prob, alias, logq, keep


VARIANTS = [(True, "negative", "alias"), (True, "nce", "log_uniform"), (False, "negative", "alias"),
            (False, "nce", "alias")]


def run_both(variant, n, blocks, schedule, seed, D=13):
    sg, loss, noise = variant
    ids, ends, s0, s1, prob, alias, logq, keep = job(n, D=D)
    if noise == "log_uniform":
        prob = alias = None
    bias = np.zeros(len(keep), np.float32) if loss == "nce" else None
    kw = dict(sg=sg, loss=loss, negative=3, window=3, alpha=0.05, alpha_end=0.01, seed=4,
              counter=100, remove_accidental_hits=True)
    out = []
    for emulated in (True, False):
        a0, a1 = s0.copy(), s1.copy()
        ab = None if bias is None else bias.copy()
        if emulated:
            r = _emu.word2vec_train_cuda(a0, a1, ab, ids, ends, keep, prob, alias, logq,
                                         blocks=blocks, schedule=schedule, schedule_seed=seed,
                                         **kw)
        else:
            r = _C.word2vec_train(a0, a1, ab, ids, ends, keep, prob, alias, logq, batched=False,
                                  naive=True, **kw)
        out.append((r, a0, a1, ab))
    return out


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(map(str, v)))
@pytest.mark.parametrize("blocks", [1, 3])
def test_train_kernel_matches_cpu_forward(variant, blocks):
    (re, e0, e1, eb), (rc, c0, c1, cb) = run_both(variant, 150, blocks, "forward", 0)
    assert re[1:] == rc[1:]
    np.testing.assert_allclose(re[0], rc[0], rtol=1e-5)
    np.testing.assert_allclose(e0, c0, atol=W2V_TRAIN_ATOL)
    np.testing.assert_allclose(e1, c1, atol=W2V_TRAIN_ATOL)
    if eb is not None:
        np.testing.assert_allclose(eb, cb, atol=W2V_TRAIN_ATOL)


@pytest.mark.parametrize("schedule,seed", SCHEDULES[1:])
def test_train_kernel_every_thread_schedule(schedule, seed):
    # D = 200 > 128 threads: every thread owns one or two elements (ragged ownership).
    n = 25 if schedule == "concurrent" else 60
    (re, e0, e1, _), (rc, c0, c1, _) = run_both(VARIANTS[0], n, 1, schedule, seed, D=200)
    assert re[1:] == rc[1:]
    np.testing.assert_allclose(e0, c0, atol=W2V_TRAIN_ATOL)
    np.testing.assert_allclose(e1, c1, atol=W2V_TRAIN_ATOL)


def test_train_kernel_argument_errors():
    ids, ends, s0, s1, prob, alias, logq, keep = job(20)
    kw = dict(sg=True, loss="negative", negative=3, window=3, alpha=0.05, alpha_end=0.01,
              seed=4, counter=0, remove_accidental_hits=True)
    with pytest.raises(ValueError, match="D must be <= 1024"):
        big = np.zeros((19, 1025), np.float32)
        _emu.word2vec_train_cuda(big, big.copy(), None, ids, ends, keep, prob, alias, None, **kw)
    with pytest.raises(ValueError, match="ids must lie"):
        _emu.word2vec_train_cuda(s0, s1, None, ids + 100, ends, keep, prob, alias, None, **kw)
