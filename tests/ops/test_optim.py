"""Fused optimizer steps against float64 numpy implementations of each update rule."""

import numpy as np
import pytest

import latentforge as lf
import latentforge.optim as optim
import reference as ref64
from latentforge import _C
from latentforge.testing import ATOL_F32, DOT_FACTOR, F32_U, RTOL_F32, assert_close


class Param:
    """The duck-typed parameter the optimizers accept: ``.data`` and ``.grad``."""

    def __init__(self, data, grad=None):
        self.data = data
        self.grad = grad


# ----------------------------------------------------------------------------- float64 oracle
ref_sgd, ref_adagrad, ref_rmsprop = ref64.sgd, ref64.adagrad, ref64.rmsprop
ref_adam, ref_adadelta, ref_max_norm = ref64.adam, ref64.adadelta, ref64.max_norm
# Max-norm rescaling: the norm is a float32 sum of squares (dot bound, halved by the square
# root) and each element is then scaled once (division and product): relative error
# <= (DOT_FACTOR / 2 + 2) u; DOT_FACTOR + 2 for margin.
MAX_NORM_RTOL = (DOT_FACTOR + 2) * F32_U


REFS = {
    optim.SGD: ref_sgd,
    optim.AdaGrad: ref_adagrad,
    optim.RMSProp: ref_rmsprop,
    optim.Adam: ref_adam,
    optim.AdaDelta: ref_adadelta,
}

CASES = [
    (optim.SGD, dict(lr=0.1)),
    (optim.SGD, dict(lr=0.05, weight_decay=0.01, l1=0.001)),
    (optim.SGD, dict(lr=0.05, momentum=0.9)),
    (optim.SGD, dict(lr=0.05, momentum=0.5, weight_decay=0.02)),
    (optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    (optim.SGD, dict(lr=0.02, momentum=0.8, nesterov=True, weight_decay=0.01, l1=0.003)),
    (optim.AdaGrad, dict()),
    (optim.AdaGrad, dict(lr=0.1, eps=1e-6, weight_decay=0.01, l1=0.001)),
    (optim.RMSProp, dict()),
    (optim.RMSProp, dict(lr=0.001, alpha=0.9, eps=1e-6, l1=0.01)),
    (optim.RMSProp, dict(lr=0.01, momentum=0.9)),
    (optim.RMSProp, dict(lr=0.005, alpha=0.95, momentum=0.5, weight_decay=0.05)),
    (optim.Adam, dict()),
    (optim.Adam, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01, l1=0.001)),
    (optim.Adam, dict(lr=0.05, betas=(0.0, 0.5))),
    (optim.AdaDelta, dict()),
    (optim.AdaDelta, dict(lr=0.5, rho=0.95, eps=1e-5, weight_decay=0.01, l1=0.002)),
]
SHAPES = [(7, 5), (13,), (3, 4, 2), (0,), (1,)]


def _case_id(case):
    cls, kw = case
    return cls.__name__ + "-" + "-".join(f"{k}={v}" for k, v in kw.items())


def _scaled_close(actual, ref, name):
    """|a - r| <= rtol * (|r| + max|r|): relative to the array's scale, not elementwise."""
    scale = float(np.abs(ref).max()) if ref.size else 0.0
    assert_close(actual, ref, rtol=RTOL_F32, atol=RTOL_F32 * scale + 1e-30, err_msg=name)


def _run_against_reference(cls, kw, steps, seed):
    rng = np.random.default_rng(seed)
    params = [Param(rng.standard_normal(s).astype(np.float32)) for s in SHAPES]
    ref_p = [p.data.astype(np.float64) for p in params]
    ref_st = [{} for _ in params]
    ref_t = [0] * len(params)
    h = dict(kw)
    opt = cls(params, **kw)
    data_ids = [id(p.data) for p in params]
    for step in range(steps):
        for i, p in enumerate(params):
            # Parameter 2 has no gradient on step 3: skipped, and its step count does not advance.
            if i == 2 and step == 3:
                p.grad = None
                continue
            p.grad = rng.standard_normal(p.data.shape).astype(np.float32)
            ref_t[i] += 1
            REFS[cls](ref_p[i], p.grad.astype(np.float64), ref_st[i], h, ref_t[i])
            if h.get("max_norm") is not None and ref_p[i].ndim == 2:
                ref_p[i] = ref_max_norm(ref_p[i], h["max_norm"])[0]
        opt.step()
        for i, p in enumerate(params):
            _scaled_close(p.data, ref_p[i], f"{cls.__name__} {kw} step {step} param {i}")
    assert [id(p.data) for p in params] == data_ids  # updated in place
    for i in range(len(params)):
        assert opt.state[i]["step"] == ref_t[i]
        for name, ref in ref_st[i].items():
            _scaled_close(opt.state[i][name], ref, f"{cls.__name__} state {name} param {i}")
        assert set(opt.state[i]) == {"step", *ref_st[i]}


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_matches_float64_reference(case):
    cls, kw = case
    _run_against_reference(cls, kw, steps=8, seed=CASES.index(case))


@pytest.mark.parametrize(
    "case",
    [
        (optim.SGD, dict(lr=0.5, momentum=0.9, max_norm=1.5)),
        (optim.AdaGrad, dict(lr=0.5, max_norm=2.0, weight_decay=0.01)),
        (optim.RMSProp, dict(lr=0.1, momentum=0.5, max_norm=1.0)),
        (optim.Adam, dict(lr=0.3, max_norm=1.2, l1=0.01)),
        (optim.AdaDelta, dict(lr=1.0, max_norm=0.8)),
    ],
    ids=_case_id,
)
def test_max_norm_in_optimizer(case):
    cls, kw = case
    _run_against_reference(cls, kw, steps=6, seed=7)


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize(
    "shape", [(7, 5), (1000, 3), (3, 1000), (300, 700), (1, 1), (0, 4), (4, 0)]
)
def test_max_norm_kernel_matches_numpy(shape, axis):
    rng = np.random.default_rng(shape[0] * 31 + shape[1])
    W = rng.standard_normal(shape).astype(np.float32)
    if axis == 0 and shape[1] > 1:
        W[:, ::2] *= 0.01  # half the vectors stay under the limit
    if axis == 1 and shape[0] > 1:
        W[::2, :] *= 0.01
    length = shape[1 - axis]
    c = 0.5 * np.sqrt(length) if length else 1.0
    ref, count = ref_max_norm(W, c, axis)
    out = W.copy()
    assert _C.optim_max_norm(out, c, axis) == count
    assert_close(out, ref, rtol=MAX_NORM_RTOL, atol=0)
    if W.size:
        norms = np.sqrt((out.astype(np.float64) ** 2).sum(axis=axis))
        assert norms.max() <= c * (1 + MAX_NORM_RTOL)


def test_max_norm_bad_axis():
    with pytest.raises(ValueError, match="axis must be 0 or 1"):
        _C.optim_max_norm(np.ones((2, 2), np.float32), 1.0, 2)


# ----------------------------------------------------------------------------- state & API


@pytest.mark.parametrize("case", CASES[2::2] + [(optim.SGD, dict(lr=0.1, max_norm=1.0))],
                         ids=_case_id)
def test_state_dict_round_trip_continues_identically(case):
    cls, kw = case
    rng = np.random.default_rng(11)
    shapes = [(6, 4), (9,)]
    a = [Param(rng.standard_normal(s).astype(np.float32)) for s in shapes]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(6)]
    opt_a = cls(a, **kw)
    for gs in grads[:3]:
        for p, g in zip(a, gs):
            p.grad = g
        opt_a.step()
    sd = opt_a.state_dict()
    b = [Param(p.data.copy()) for p in a]
    opt_b = cls(b, lr=123.0) if cls is optim.SGD else cls(b)
    opt_b.load_state_dict(sd)
    assert opt_b.defaults == opt_a.defaults
    # The saved state is a copy: later steps of opt_a must not change it.
    saved = {i: {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in st.items()}
             for i, st in sd["state"].items()}
    for gs in grads[3:]:
        for pa, pb, g in zip(a, b, gs):
            pa.grad, pb.grad = g, g.copy()
        opt_a.step()
        opt_b.step()
    for pa, pb in zip(a, b):
        np.testing.assert_array_equal(pa.data, pb.data)
    for i, st in saved.items():
        for k, v in st.items():
            np.testing.assert_array_equal(sd["state"][i][k], v)


def test_load_state_dict_rejects_bad_state():
    p = Param(np.zeros((3, 2), np.float32), np.ones((3, 2), np.float32))
    opt = optim.Adam([p])
    opt.step()
    sd = opt.state_dict()
    bad = opt.state_dict()
    bad["state"][0]["exp_avg"] = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="exp_avg"):
        opt.load_state_dict(bad)
    bad = opt.state_dict()
    del bad["state"][0]["exp_avg_sq"]
    with pytest.raises(ValueError, match="keys"):
        opt.load_state_dict(bad)
    bad = opt.state_dict()
    bad["state"][5] = bad["state"].pop(0)
    with pytest.raises(ValueError, match="parameter index"):
        opt.load_state_dict(bad)
    bad = opt.state_dict()
    bad["hyper"]["lr"] = -1.0
    with pytest.raises(ValueError, match="lr"):
        opt.load_state_dict(bad)
    with pytest.raises(ValueError, match="hyper"):
        opt.load_state_dict({"state": {}})
    opt.load_state_dict(sd)  # a failed load changed nothing; a good one still works
    assert opt.state[0]["step"] == 1


def test_zero_grad():
    p = Param(np.ones(4, np.float32), np.ones(4, np.float32))
    q = Param(np.ones((2, 2), np.float32), None)
    opt = optim.SGD([p, q], lr=0.1, momentum=0.9)
    g = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is g and not g.any() and q.grad is None
    opt.zero_grad()
    assert p.grad is None and q.grad is None
    before = p.data.copy()
    opt.step()  # nothing has a gradient: nothing moves, no state is created
    np.testing.assert_array_equal(p.data, before)
    assert opt.state == [{}, {}]


def test_lr_can_be_changed_between_steps():
    p = Param(np.ones(3, np.float32), np.ones(3, np.float32))
    opt = optim.SGD([p], lr=0.5)
    opt.step()
    opt.lr = 0.25
    opt.step()
    np.testing.assert_array_equal(p.data, np.full(3, 0.25, np.float32))
    with pytest.raises(ValueError, match="lr"):
        opt.lr = 0.0


def test_sgd_momentum_minimizes_quadratic():
    # f(x) = 0.5 x^T A x - b^T x, condition number 20: minimum at A^{-1} b.
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.standard_normal((10, 10)))
    A = Q @ np.diag(np.linspace(1.0, 20.0, 10)) @ Q.T
    b = rng.standard_normal(10)
    x = Param(np.zeros(10, np.float32))
    opt = optim.SGD([x], lr=0.03, momentum=0.9)
    for _ in range(300):
        x.grad = (A @ x.data - b).astype(np.float32)
        opt.step()
    # float32 iterates stop where the gradient rounds to ~ATOL_F32 (O(1) values); the
    # distance to the minimum is that over the smallest eigenvalue (1): 20 ATOL_F32 covers
    # the condition number 20 (measured 2.8e-8).
    assert_close(x.data, np.linalg.solve(A, b), rtol=0, atol=20 * ATOL_F32)


@pytest.mark.parametrize(
    "case",
    [
        (optim.SGD, dict(lr=0.1, weight_decay=0.01, l1=0.001)),
        (optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, l1=0.01)),
        (optim.AdaGrad, dict(weight_decay=0.1)),
        (optim.RMSProp, dict(momentum=0.9, l1=0.01)),
        (optim.Adam, dict(weight_decay=0.01, max_norm=3.0)),
        (optim.AdaDelta, dict(l1=0.01)),
    ],
    ids=_case_id,
)
def test_results_independent_of_thread_count(threads, case):
    cls, kw = case
    rng = np.random.default_rng(5)
    shapes = [(300, 700), (100_003,)]  # above the serial threshold; not a multiple of the block
    p0 = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(3)]
    results = []
    for nt in (1, 2):
        lf.set_num_threads(nt)
        params = [Param(x.copy()) for x in p0]
        opt = cls(params, **kw)
        for gs in grads:
            for p, g in zip(params, gs):
                p.grad = g
            opt.step()
        results.append([p.data for p in params])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- bad input


def _p(shape=(3, 2)):
    return Param(np.zeros(shape, np.float32))


@pytest.mark.parametrize(
    "make,exc,match",
    [
        (lambda: optim.SGD([_p()], lr=0.0), ValueError, "lr must be > 0"),
        (lambda: optim.SGD([_p()], lr=-1.0), ValueError, "lr must be > 0"),
        (lambda: optim.SGD([_p()], lr=float("nan")), ValueError, "lr must be finite"),
        (lambda: optim.SGD([_p()], lr="0.1"), TypeError, "lr must be a real number"),
        (lambda: optim.SGD([_p()], lr=0.1, momentum=1.0), ValueError, "momentum"),
        (lambda: optim.SGD([_p()], lr=0.1, momentum=-0.1), ValueError, "momentum"),
        (lambda: optim.SGD([_p()], lr=0.1, nesterov=True), ValueError, "nesterov"),
        (lambda: optim.SGD([_p()], lr=0.1, weight_decay=-1e-3), ValueError, "weight_decay"),
        (lambda: optim.SGD([_p()], lr=0.1, l1=-1.0), ValueError, "l1"),
        (lambda: optim.SGD([_p()], lr=0.1, max_norm=0.0), ValueError, "max_norm"),
        (lambda: optim.AdaGrad([_p()], eps=-1.0), ValueError, "eps"),
        (lambda: optim.RMSProp([_p()], alpha=1.0), ValueError, "alpha"),
        (lambda: optim.RMSProp([_p()], momentum=1.5), ValueError, "momentum"),
        (lambda: optim.Adam([_p()], betas=(0.9, 1.0)), ValueError, "beta2"),
        (lambda: optim.Adam([_p()], betas=(-0.1, 0.9)), ValueError, "beta1"),
        (lambda: optim.Adam([_p()], betas=0.9), ValueError, "betas"),
        (lambda: optim.AdaDelta([_p()], rho=1.0), ValueError, "rho"),
        (lambda: optim.SGD([], lr=0.1), ValueError, "empty"),
        (lambda: optim.SGD(_p(), lr=0.1), TypeError, "iterable"),
        (lambda: optim.SGD([object()], lr=0.1), TypeError, "data"),
        (lambda: optim.SGD([{"params": [_p()]}], lr=0.1), TypeError, "groups"),
    ],
)
def test_bad_hyperparameters_rejected(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_duplicate_parameter_rejected():
    p = _p()
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([p, p], lr=0.1)


def test_bad_parameter_arrays_rejected():
    with pytest.raises(TypeError, match="float32"):
        optim.Adam([Param(np.zeros((3, 2)))])  # float64 data
    with pytest.raises(ValueError, match="C-contiguous"):
        optim.Adam([Param(np.zeros((4, 6), np.float32)[:, ::2])])
    ro = np.zeros(3, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        optim.Adam([Param(ro)])

    p = _p()
    opt = optim.Adam([p])
    for grad, exc, match in [
        (np.zeros((2, 3), np.float32), ValueError, "shape"),
        (np.zeros((3, 2)), TypeError, "float32"),
        (np.zeros((2, 3), np.float32).T, ValueError, "C-contiguous"),
        ([[0.0] * 2] * 3, TypeError, "numpy array"),
        (p.data, ValueError, "share memory"),
    ]:
        p.grad = grad
        with pytest.raises(exc, match=match):
            opt.step()
    assert opt.state == [{}]  # nothing was created or advanced
    p.data = np.zeros((3, 2))  # replaced by a float64 array after construction
    p.grad = np.zeros((3, 2), np.float32)
    with pytest.raises(TypeError, match="float32"):
        opt.step()


def test_binding_validates_arrays():
    p = np.zeros(8, np.float32)
    g = np.ones(8, np.float32)
    b = np.zeros(8, np.float32)
    with pytest.raises(ValueError, match="share memory"):
        _C.optim_momentum(p, p, b, 0.1, 0.9)
    with pytest.raises(ValueError, match="share memory"):
        _C.optim_momentum(p, g, p[::-1][::-1], 0.1, 0.9)
    big = np.zeros(16, np.float32)
    with pytest.raises(ValueError, match="share memory"):
        _C.optim_adam(big[:8], g, big[8:], big[4:12], 1, 1e-3, 0.9, 0.999, 1e-8)
    with pytest.raises(TypeError, match="float32"):
        _C.optim_sgd(p.astype(np.float64), g, 0.1)
    with pytest.raises(TypeError, match="numpy array"):
        _C.optim_sgd([0.0] * 8, g, 0.1)
    with pytest.raises(ValueError, match="shape"):
        _C.optim_adagrad(p, g, np.zeros(7, np.float32), 0.1, 1e-10)
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.optim_sgd(np.zeros(16, np.float32)[::2], g, 0.1)
    ro = np.zeros(8, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        _C.optim_adagrad(p, g, ro, 0.1, 1e-10)
    with pytest.raises(ValueError, match="step"):
        _C.optim_adam(p, g, b, np.zeros(8, np.float32), 0, 1e-3, 0.9, 0.999, 1e-8)
    with pytest.raises(ValueError, match="momentum"):
        _C.optim_rmsprop(p, g, b, None, 0.1, 0.9, 1e-8, 0.5)
    with pytest.raises(ValueError, match="2-D"):
        _C.optim_max_norm(p, 1.0)
    with pytest.raises(ValueError, match="max_norm"):
        _C.optim_max_norm(np.ones((2, 2), np.float32), 0.0)
    np.testing.assert_array_equal(p, 0.0)  # no failed call wrote anything
