"""CuPy in, CuPy out (issue 13): lf.ops on device arrays against the same ops on the host.

Runs only where a GPU and CuPy exist: ``python -m pytest -m cuda``. The interface parsing and
the error paths are tested everywhere in tests/test_device_interface.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import latentforge as lf
from latentforge import _C
from latentforge.testing import RTOL_F32, assert_close, assert_dot_close

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(_C.cuda_device_count() == 0, reason="no CUDA device"),
]

cp = pytest.importorskip("cupy", reason="CuPy is not installed (pip install 'latentforge[cuda]')")


@pytest.fixture
def rng():
    return np.random.default_rng(13)


def _close(dev, host, abs_terms):
    """Device result vs the host kernel's, within the float32 reduction bound of the product
    (both sides are float32 reductions of the same terms in different orders)."""
    assert isinstance(dev, cp.ndarray)
    assert_dot_close(cp.asnumpy(dev), host, 2 * abs_terms)


def test_gemm_and_linear_on_device(rng):
    A = rng.standard_normal((67, 33), dtype=np.float32)
    B = rng.standard_normal((33, 45), dtype=np.float32)
    b = rng.standard_normal(45, dtype=np.float32)
    dA, dB, db = cp.asarray(A), cp.asarray(B), cp.asarray(b)
    aA, aB = np.abs(A), np.abs(B)
    _close(lf.ops.gemm(dA, dB), lf.ops.gemm(A, B), aA @ aB)
    _close(lf.ops.gemm(dA.T, dA), lf.ops.gemm(A.T, A), aA.T @ aA)  # Fortran order, in place
    _close(lf.ops.gemm(dB, dA, trans_a=True, trans_b=True),
           lf.ops.gemm(B, A, trans_a=True, trans_b=True), aB.T @ aA.T)
    _close(lf.ops.linear(dA, dB, db, activation="relu"), lf.ops.linear(A, B, b, "relu"),
           aA @ aB + np.abs(b))
    C = cp.ones((67, 45), dtype=cp.float32)
    out = lf.ops.gemm(dA, dB, C, alpha=2.0, beta=0.5)
    assert out is C
    _close(out, 2.0 * lf.ops.gemm(A, B) + 0.5, 2 * (aA @ aB) + 0.5)


def test_pooling_and_conv_on_device(rng):
    x = rng.standard_normal((3, 5, 13, 11), dtype=np.float32)
    w = rng.standard_normal((7, 5, 3, 3), dtype=np.float32)
    bias = rng.standard_normal(7, dtype=np.float32)
    dx = cp.asarray(x)
    y, idx = lf.ops.max_pool2d(dx, 3, 2, 1, return_indices=True)
    ref_y, ref_idx = lf.ops.max_pool2d(x, 3, 2, 1, return_indices=True)
    np.testing.assert_array_equal(cp.asnumpy(y), ref_y)
    np.testing.assert_array_equal(cp.asnumpy(idx), ref_idx)
    np.testing.assert_array_equal(cp.asnumpy(lf.ops.avg_pool2d(dx, 2)), lf.ops.avg_pool2d(x, 2))
    assert_close(cp.asnumpy(lf.ops.l2_pool2d(dx, 2)), lf.ops.l2_pool2d(x, 2), rtol=4 * RTOL_F32)
    abs_y = lf.ops.conv2d(np.abs(x), np.abs(w), np.abs(bias), stride=2, padding=1)
    _close(lf.ops.conv2d(dx, cp.asarray(w), cp.asarray(bias), stride=2, padding=1),
           lf.ops.conv2d(x, w, bias, stride=2, padding=1), abs_y)


def test_streams_are_honoured(rng):
    A = rng.standard_normal((256, 256), dtype=np.float32)
    stream = cp.cuda.Stream(non_blocking=True)
    with stream:
        dA = cp.asarray(A)
        dA *= 2.0  # enqueued on `stream`; the product must see it
        out = lf.ops.gemm(dA, dA)
    stream.synchronize()
    _close(out, lf.ops.gemm(2 * A, 2 * A), 4 * np.abs(A) @ np.abs(A))


def test_device_errors(rng):
    dA = cp.ones((4, 4), dtype=cp.float32)
    with pytest.raises(TypeError, match="float32 on the device"):
        lf.ops.gemm(dA.astype(cp.float64), dA)
    with pytest.raises(ValueError, match="contiguous"):
        lf.ops.gemm(dA[:, ::2], dA[::2])
    with pytest.raises(TypeError, match="host data"):
        lf.ops.gemm(dA, np.ones((4, 4), np.float32))
    with pytest.raises(ValueError, match="inner dimensions"):
        lf.ops.gemm(dA, cp.ones((3, 4), dtype=cp.float32))
    if _C.cuda_device_count() > 1:
        with cp.cuda.Device(1):
            other = cp.ones((4, 4), dtype=cp.float32)
        with pytest.raises(ValueError, match="device"):
            lf.ops.gemm(dA, other)


def test_dlpack_input(rng):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch without CUDA")
    A = rng.standard_normal((9, 5), dtype=np.float32)
    t = torch.from_numpy(A).cuda()
    _close(lf.ops.gemm(t, t.T.contiguous()), lf.ops.gemm(A, A.T.copy()), np.abs(A) @ np.abs(A).T)


def test_models_fit_on_the_device_as_well_as_on_the_host():
    """A model fitted on the device reaches the quality of the same fit on the host (the
    numbers differ by float32 reduction order, so the comparison is of accuracy, not bits)."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    train, test = slice(0, 1400), slice(1400, None)
    kw = dict(hidden=(64,), activation="relu", optimizer="adam", learning_rate=1e-3,
              max_epochs=15, random_state=0)
    host = lf.models.MLPClassifier(**kw).fit(X[train], y[train])
    dev = lf.models.MLPClassifier(**kw).fit(cp.asarray(X[train]), cp.asarray(y[train]))
    assert dev.device_.startswith("cuda:")
    pred = dev.predict(cp.asarray(X[test]))
    assert isinstance(pred, cp.ndarray)
    acc_host = host.score(X[test], y[test])
    acc_dev = float((cp.asnumpy(pred) == y[test]).mean())
    assert acc_dev > 0.9 and abs(acc_dev - acc_host) < 0.03, (acc_dev, acc_host)

    imgs = X.reshape(-1, 1, 8, 8)
    kw = dict(channels=(8,), kernel_size=3, batchnorm=True, hidden=(32,), max_epochs=4,
              random_state=0)
    host = lf.models.ConvNetClassifier(**kw).fit(imgs[train], y[train])
    dev = lf.models.ConvNetClassifier(**kw, device="cuda").fit(imgs[train], y[train])
    acc_host = host.score(imgs[test], y[test])
    acc_dev = dev.score(cp.asarray(imgs[test]), y[test])
    assert acc_dev > 0.85 and abs(acc_dev - acc_host) < 0.04, (acc_dev, acc_host)

    for solver in ("full", "covariance_eigh", "randomized"):
        host = lf.models.PCA(10, svd_solver=solver, random_state=0).fit(X)
        dev = lf.models.PCA(10, svd_solver=solver, random_state=0).fit(cp.asarray(X))
        np.testing.assert_allclose(cp.asnumpy(dev.explained_variance_),
                                   host.explained_variance_, rtol=1e-3)
        # Axes agree up to the float32 rounding of the scatter matrix (both sign-fixed).
        np.testing.assert_allclose(cp.asnumpy(dev.components_[:5]), host.components_[:5],
                                   atol=2e-3)
