"""Optimizers, losses, Module.to and Dropout on real CuPy arrays against the host (issue 13).

Runs only where a GPU and CuPy exist: ``python -m pytest -m cuda``. The same Python paths are
checked bitwise everywhere through the fake device in tests/autograd/test_device_optim.py; here
the CUDA kernels run (float32 elementwise updates: within a few ulps of the CPU's).
"""

from __future__ import annotations

import numpy as np
import pytest

import latentforge.nn as nn
from latentforge import _C, losses
from latentforge.optim import SGD, AdaDelta, AdaGrad, Adam, RMSProp
from latentforge.tensor import Tensor
from latentforge.testing import assert_close

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(_C.cuda_device_count() == 0, reason="no CUDA device"),
]

cp = pytest.importorskip("cupy", reason="CuPy is not installed (pip install 'latentforge[cuda]')")


@pytest.mark.parametrize("cls, kw", [
    (SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01, l1=0.001, max_norm=0.5)),
    (AdaGrad, dict(lr=0.1)),
    (RMSProp, dict(lr=0.01, momentum=0.8)),
    (Adam, dict(lr=0.01, weight_decay=0.01)),
    (AdaDelta, dict(lr=1.0)),
])
def test_optimizer_on_device_matches_host(cls, kw):
    rng = np.random.default_rng(0)
    host = [nn.Parameter(rng.standard_normal(s).astype(np.float32)) for s in ((33, 17), (17,))]
    dev = [nn.Parameter(cp.asarray(p.data)) for p in host]
    opt_h, opt_d = cls(host, **kw), cls(dev, **kw)
    for _ in range(3):
        for ph, pd in zip(host, dev):
            g = rng.standard_normal(ph.shape).astype(np.float32)
            ph.grad, pd.grad = g, cp.asarray(g)
        opt_h.step()
        opt_d.step()
    for ph, pd in zip(host, dev):
        assert isinstance(pd.data, cp.ndarray)
        assert_close(cp.asnumpy(pd.data), ph.data)
    assert all(isinstance(v, cp.ndarray) for st in opt_d.state for k, v in st.items()
               if k != "step")


def test_losses_dropout_and_module_to_on_device():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((8, 5)).astype(np.float32)
    labels = rng.integers(0, 5, size=8)
    h, d = Tensor(z, requires_grad=True), Tensor(cp.asarray(z), requires_grad=True)
    lh, ld = losses.softmax_cross_entropy(h, labels), losses.softmax_cross_entropy(d, labels)
    lh.backward()
    ld.backward()
    assert_close(cp.asnumpy(ld.data), lh.data)
    assert_close(cp.asnumpy(d.grad), h.grad)

    drop_h, drop_d = nn.Dropout(0.3, random_state=2), nn.Dropout(0.3, random_state=2)
    x = np.ones((7, 9), np.float32)
    mask_h = drop_h(Tensor(x)).data
    mask_d = drop_d(Tensor(cp.asarray(x))).data
    np.testing.assert_array_equal(cp.asnumpy(mask_d) == 0, mask_h == 0)  # same Philox draws

    model = nn.Sequential(nn.Linear(4, 3, random_state=0), nn.BatchNorm1d(3))
    before = [p.data.copy() for p in model.parameters()]
    params = model.parameters()
    assert model.to("cuda").device.startswith("cuda:")
    assert all(isinstance(p.data, cp.ndarray) for p in params)
    model.to("cpu")
    assert all(a is b for a, b in zip(model.parameters(), params))
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.data, b)
