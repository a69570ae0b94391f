"""The CUDA GEMM kernel against float64 references, at every launch configuration.

``TestEmulated`` runs the kernel source (csrc/ops/gemm_cuda.cuh) on the CPU through the
emulator (csrc/emu/cuda_emu.h, module ``latentforge._emu``), so it runs everywhere, under every
schedule: the deterministic ones (threads one at a time between barriers, forward, reversed and
shuffled, with shared memory poisoned in every block), where a missing ``__syncthreads()`` or a
read of stale shared memory fails every time, and the concurrent one (a thread per CUDA thread).
``TestDevice`` runs the same cases on a real GPU and is skipped without one. Shapes are small but
each still spans several tiles (64x64 and 32x48) and K-slabs, with ragged edges.
"""

import functools

import numpy as np
import pytest

import latentforge as lf
from latentforge import _C, _emu
from latentforge.testing import (
    ATOL_CUDA,
    F32_U,
    RTOL_CUDA,
    assert_close,
    assert_dot_close,
    dot_reference,
)

CONFIGS = list(range(_emu.gemm_cuda_num_configs()))
# (schedule, seed): every schedule of the emulator, two seeds of the shuffled one.
SCHEDULES = [("forward", 0), ("reverse", 0), ("shuffled", 1), ("shuffled", 2), ("concurrent", 0)]
# (M, N, K): single element, odd sizes around the tiles, thin, K=1, and larger than the biggest
# tile (64x64, BK=8) in every dimension.
SHAPES = [
    (1, 1, 1),
    (17, 33, 65),
    (65, 17, 33),
    (3, 130, 7),
    (33, 31, 1),
    (70, 70, 70),
    (130, 140, 90),
]
TRANS = [(False, False), (True, False), (False, True), (True, True)]
ACTIVATIONS = {
    lf.Activation.none: lambda x: x,
    lf.Activation.sigmoid: lambda x: 1 / (1 + np.exp(-x)),
    lf.Activation.tanh: np.tanh,
    lf.Activation.relu: lambda x: np.maximum(x, 0),
}


def _operands(rng, M, N, K, ta, tb):
    A = rng.uniform(-1, 1, (K, M) if ta else (M, K)).astype(np.float32)
    B = rng.uniform(-1, 1, (N, K) if tb else (K, N)).astype(np.float32)
    return A, B


def _ids(t):
    return f"ta{int(t[0])}tb{int(t[1])}"


def _schedule_id(run):
    return f"{run[0]}{run[1]}" if run[0] == "shuffled" else run[0]


class TestEmulated:
    @pytest.fixture(autouse=True, params=SCHEDULES, ids=_schedule_id)
    def _gemm(self, request):
        name, seed = request.param
        self.gemm = functools.partial(_emu.gemm_cuda, schedule=name, seed=seed)

    @pytest.mark.parametrize("config", CONFIGS)
    @pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
    @pytest.mark.parametrize("trans", TRANS, ids=_ids)
    def test_matches_float64(self, config, shape, trans):
        M, N, K = shape
        ta, tb = trans
        rng = np.random.default_rng(M * 7919 + N * 31 + K)
        A, B = _operands(rng, M, N, K, ta, tb)
        C = self.gemm(A, B, trans_a=ta, trans_b=tb, config=config)
        assert C.shape == (M, N) and C.dtype == np.float32
        ref, absprod = dot_reference(A, B, ta, tb)
        assert_dot_close(C, ref, absprod, err_msg=f"config {config} {shape} {trans}")

    @pytest.mark.parametrize("config", CONFIGS)
    @pytest.mark.parametrize("activation", sorted(ACTIVATIONS, key=int), ids=lambda a: a.name)
    @pytest.mark.parametrize(
        "alpha,beta,with_bias", [(1.0, 0.0, True), (-0.75, 0.5, True), (0.5, -2.0, False)]
    )
    def test_epilogue(self, config, activation, alpha, beta, with_bias):
        M, N, K = 37, 45, 19
        ta, tb = TRANS[int(activation)]  # vary the layout too, at no extra cost
        rng = np.random.default_rng(int(activation))
        A, B = _operands(rng, M, N, K, ta, tb)
        C0 = rng.uniform(-1, 1, (M, N)).astype(np.float32)
        bias = rng.uniform(-1, 1, N).astype(np.float32) if with_bias else None
        C = C0.copy()
        out = self.gemm(A, B, C, ta, tb, alpha, beta, bias, activation, config)
        assert out is C  # written in place and returned
        ref, absprod = dot_reference(A, B, ta, tb)
        pre = alpha * ref + beta * C0.astype(np.float64)
        extra = np.abs(beta * C0.astype(np.float64))
        if with_bias:
            pre = pre + bias
            extra = extra + np.abs(bias)
        # Activations are 1-Lipschitz: the bound of the linear part carries over.
        assert_dot_close(
            C,
            ACTIVATIONS[activation](pre),
            abs(alpha) * absprod,
            extra=4 * F32_U * (extra + np.abs(pre)),
            err_msg=f"config {config} act {activation}",
        )

    @pytest.mark.parametrize("config", CONFIGS)
    def test_beta_zero_ignores_nan_in_c(self, config):
        rng = np.random.default_rng(4)
        A, B = _operands(rng, 20, 70, 10, False, False)
        C = np.full((20, 70), np.nan, np.float32)
        self.gemm(A, B, C, beta=0.0, config=config)
        assert np.isfinite(C).all()
        ref, absprod = dot_reference(A, B)
        assert_dot_close(C, ref, absprod)

    @pytest.mark.parametrize("config", CONFIGS)
    @pytest.mark.parametrize("K", [0, 3])
    def test_alpha_or_k_zero_does_not_read_a_b(self, config, K):
        # With K == 0 the product is empty; with alpha == 0 A and B must not be read (NaN here).
        A = np.full((5, K), np.nan, np.float32)
        B = np.full((K, 9), np.nan, np.float32)
        C0 = np.arange(45, dtype=np.float32).reshape(5, 9)
        bias = np.linspace(-1, 1, 9, dtype=np.float32)
        C = C0.copy()
        self.gemm(A, B, C, alpha=0.0 if K else 1.0, beta=2.0, bias=bias, config=config)
        assert_close(C, 2 * C0.astype(np.float64) + bias)

    @pytest.mark.parametrize("config", CONFIGS)
    def test_strided_rows(self, config):
        # Row slices of wider arrays: leading dimensions larger than the widths.
        rng = np.random.default_rng(5)
        A = rng.uniform(-1, 1, (19, 40)).astype(np.float32)[:, :23]
        B = rng.uniform(-1, 1, (23, 50)).astype(np.float32)[:, 5:41]
        big = np.full((19, 45), 7.0, np.float32)
        C = big[:, 3:39]
        self.gemm(A, B, C, config=config)
        ref, absprod = dot_reference(A, B)
        assert_dot_close(C, ref, absprod)
        assert (big[:, :3] == 7).all() and (big[:, 39:] == 7).all()  # padding untouched

    @pytest.mark.parametrize("config", CONFIGS)
    def test_empty_output(self, config):
        A = np.ones((0, 4), np.float32)
        B = np.ones((4, 6), np.float32)
        assert self.gemm(A, B, config=config).shape == (0, 6)
        assert self.gemm(B.T.copy(), A.T.copy(), config=config).shape == (6, 0)

    def test_argument_errors(self):
        A = np.ones((3, 4), np.float32)
        B = np.ones((4, 5), np.float32)
        with pytest.raises(ValueError, match="config"):
            self.gemm(A, B, config=len(CONFIGS))
        with pytest.raises(ValueError, match="config"):
            self.gemm(A, B, config=-1)
        with pytest.raises(TypeError, match="A must be a float32"):
            self.gemm(A.astype(np.float64), B)
        with pytest.raises(ValueError, match="inner dimensions"):
            self.gemm(A, B, trans_b=True)
        with pytest.raises(ValueError, match="beta"):
            self.gemm(A, B, beta=1.0)
        with pytest.raises(ValueError, match="activation"):
            self.gemm(A, B, activation=4)
        with pytest.raises(ValueError, match="C must have shape"):
            self.gemm(A, B, np.zeros((3, 4), np.float32))
        with pytest.raises(ValueError, match="bias"):
            self.gemm(A, B, bias=np.zeros(4, np.float32))
        with pytest.raises(ValueError, match="share memory"):
            self.gemm(A, np.ones((4, 4), np.float32), A[:, :4], trans_a=False)
        with pytest.raises(ValueError, match="writable"):
            C = np.zeros((3, 5), np.float32)
            C.flags.writeable = False
            self.gemm(A, B, C)


@pytest.mark.cuda
@pytest.mark.skipif(_C.cuda_device_count() == 0, reason="no CUDA device")
class TestDevice(TestEmulated):
    @pytest.fixture(autouse=True)
    def _gemm(self):
        self.gemm = _C._gemm_cuda


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize(
    "shape", [(70, 97, 33), (45, 130, 17)], ids=lambda s: "x".join(map(str, s))
)
def test_emulated_schedules_agree_bitwise(config, shape):
    # Each output sums over k in a fixed order: a correct kernel gives the same bits whatever the
    # order of its threads and blocks. Those bits match float64 and the CPU's naive GEMM.
    M, N, K = shape
    rng = np.random.default_rng(M + N + K)
    A, B = _operands(rng, M, N, K, True, False)
    bias = rng.uniform(-1, 1, N).astype(np.float32)
    tanh = lf.Activation.tanh
    runs = [*SCHEDULES, ("shuffled", 3), ("shuffled", 2**63 + 5)]
    outs = [
        _emu.gemm_cuda(A, B, None, True, False, 0.5, 0.0, bias, tanh, config, name, seed)
        for name, seed in runs
    ]
    for (name, seed), C in zip(runs, outs):
        np.testing.assert_array_equal(C, outs[0], err_msg=f"{name} seed {seed}")
    ref, absprod = dot_reference(A, B, True, False)
    pre = 0.5 * ref + bias
    extra = 4 * F32_U * (np.abs(bias) + np.abs(pre))
    assert_dot_close(outs[0], np.tanh(pre), 0.5 * absprod, extra=extra)
    naive = _C.gemm(A, B, None, True, False, 0.5, 0.0, bias, tanh, naive=True)
    assert_close(outs[0], naive, rtol=RTOL_CUDA, atol=ATOL_CUDA)


def test_emulated_argument_errors():
    A = np.ones((3, 4), np.float32)
    B = np.ones((4, 5), np.float32)
    with pytest.raises(ValueError, match="unknown schedule"):
        _emu.gemm_cuda(A, B, schedule="backwards")
    with pytest.raises(TypeError):
        _emu.gemm_cuda(A, B, schedule="shuffled", seed=-1)


def test_cuda_queries_never_raise():
    assert isinstance(_C.cuda_compiled(), bool)
    n = _C.cuda_device_count()
    assert n >= 0
    if not _C.cuda_compiled():
        assert n == 0
        with pytest.raises(RuntimeError, match="built without CUDA"):
            _C._gemm_cuda(np.ones((2, 2), np.float32), np.ones((2, 2), np.float32))
    elif n == 0:
        with pytest.raises(RuntimeError, match="CUDA error"):
            _C._gemm_cuda(np.ones((2, 2), np.float32), np.ones((2, 2), np.float32))
