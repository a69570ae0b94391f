"""The CUDA launches behind :mod:`latentforge.functional` on device tensors.

One small function per ``_C.device`` entry the autograd Functions need: CuPy arrays in, CuPy
arrays out, every launch through :class:`latentforge._device.Call` (float32, one device, the
CUDA build and device checked; the kernel is enqueued on CuPy's current stream). Inputs that are
not C-contiguous are copied to a contiguous array *on the device* first (the host kernels'
``_contig`` does the same on the host); nothing ever crosses between host and device here.
Outputs are allocated with ``call.empty`` / ``call.zeros`` on the inputs' device.

What :mod:`latentforge.ops` already runs on a device (``gemm``, ``linear``, ``conv2d`` and the
pooling forwards) is used from there; this module adds the activations, the row softmax and
log-softmax, the backward passes of conv2d and the pools, batch norm, top-k, local contrast
normalisation and the locally connected layer, and the random draws (Philox uniforms, the RBM's
fused sigmoid + Bernoulli sampler) and the RBM free energy for :mod:`latentforge.nn` and
:class:`latentforge.models.RBM`. The geometry and argument checks are those of
the host path (functional.py runs them before calling here); the launchers validate the sizes
again, as the CPU kernels do.
"""

from __future__ import annotations

import numpy as np

from . import _C, _device

__all__ = [
    "activation_backward",
    "activation_forward",
    "batch_norm_backward",
    "batch_norm_forward_eval",
    "batch_norm_forward_train",
    "batch_norm_invstd",
    "conv2d_backward_data",
    "conv2d_backward_weights",
    "contiguous",
    "local_contrast_norm2d_backward",
    "local_contrast_norm2d_forward",
    "locally_connected2d_backward_data",
    "locally_connected2d_backward_weights",
    "locally_connected2d_forward",
    "log_softmax_rows",
    "log_softmax_rows_backward",
    "pool2d_backward",
    "rbm_free_energy",
    "sigmoid_bernoulli",
    "softmax_rows",
    "softmax_rows_backward",
    "topk_rows",
    "topk_rows_backward",
    "uniform",
]

_POOL_MODES = {"max": 0, "avg": 1, "l2": 2}


def contiguous(a):
    """``a`` (a device array) C-contiguous: itself, or a contiguous copy on its device."""
    if a is None or a.flags.c_contiguous:
        return a
    return _device.array_module(a).ascontiguousarray(a)


def _p(a) -> int:
    """The device address of an optional array (0 for None)."""
    return 0 if a is None else _device.ptr(a)


# ------------------------------------------------------------------------- activations, rows
def activation_forward(x, act):
    """``act(x)`` elementwise (``_C.device.activation_forward``), same shape as ``x``."""
    x = contiguous(x)
    call = _device.Call("activation", x=x)
    y = call.empty(x.shape)
    call.launch(_C.device.activation_forward, _device.ptr(y), _device.ptr(x), x.size, act)
    return y


def activation_backward(dy, y, act):
    """``dy * act'(from the saved output y)`` (``_C.device.activation_backward``)."""
    dy, y = contiguous(dy), contiguous(y)
    call = _device.Call("activation backward", dy=dy, y=y)
    dx = call.empty(y.shape)
    call.launch(_C.device.activation_backward, _device.ptr(dx), _device.ptr(dy), _device.ptr(y),
                y.size, act)
    return dx


def _rows_shape(a) -> tuple[int, int]:
    cols = a.shape[-1]
    return (a.size // cols if cols else int(np.prod(a.shape[:-1], dtype=np.int64))), cols


def _rows_forward(entry, what: str, x):
    x = contiguous(x)
    call = _device.Call(what, x=x)
    y = call.empty(x.shape)
    call.launch(getattr(_C.device, entry), _device.ptr(y), _device.ptr(x), *_rows_shape(x))
    return y


def _rows_backward(entry, what: str, dy, y):
    dy, y = contiguous(dy), contiguous(y)
    call = _device.Call(what, dy=dy, y=y)
    dx = call.empty(y.shape)
    call.launch(getattr(_C.device, entry), _device.ptr(dx), _device.ptr(dy), _device.ptr(y),
                *_rows_shape(y))
    return dx


def softmax_rows(x):
    """Softmax over the last axis of ``x`` (any shape; rows are the other axes)."""
    return _rows_forward("softmax_rows", "softmax", x)


def softmax_rows_backward(dy, y):
    """``y * (dy - rowsum(dy * y))`` from the saved softmax output ``y``."""
    return _rows_backward("softmax_rows_backward", "softmax backward", dy, y)


def log_softmax_rows(x):
    """Log-softmax over the last axis (a device-only kernel: sums in double, exp in float)."""
    return _rows_forward("log_softmax_rows", "log_softmax", x)


def log_softmax_rows_backward(dy, y):
    """``dy - exp(y) * rowsum(dy)`` from the saved log-softmax output ``y``."""
    return _rows_backward("log_softmax_rows_backward", "log_softmax backward", dy, y)


# ------------------------------------------------------------------------------- conv2d
def _conv_geometry(n, c_in, hw, c_out, khw, s, p):
    return (n, c_in, hw[0], hw[1], c_out, khw[0], khw[1], s[0], s[1], p[0], p[1])


def conv2d_backward_data(dy, w, x_hw, s, p):
    """dx ``(N, C_in, H, W)`` of a 2-D convolution: ``dy`` ``(N, C_out, OH, OW)``, ``w``
    ``(C_out, C_in, kh, kw)``."""
    dy, w = contiguous(dy), contiguous(w)
    call = _device.Call("conv2d backward", dy=dy, weight=w)
    n, c_out = dy.shape[:2]
    c_in = w.shape[1]
    dx = call.empty((n, c_in, *x_hw))
    g = _conv_geometry(n, c_in, x_hw, c_out, w.shape[2:], s, p)
    call.launch(_C.device.conv2d_backward_data, _device.ptr(dx), _device.ptr(dy), _device.ptr(w),
                g)
    return dx


def conv2d_backward_weights(dy, x, k_hw, s, p, bias: bool):
    """(dw ``(C_out, C_in, kh, kw)``, db ``(C_out,)`` or None unless ``bias``)."""
    dy, x = contiguous(dy), contiguous(x)
    call = _device.Call("conv2d backward", dy=dy, x=x)
    n, c_in = x.shape[:2]
    c_out = dy.shape[1]
    dw = call.empty((c_out, c_in, *k_hw))
    db = call.empty((c_out,)) if bias else None
    g = _conv_geometry(n, c_in, x.shape[2:], c_out, k_hw, s, p)
    call.launch(_C.device.conv2d_backward_weights, _device.ptr(dw), _p(db), _device.ptr(dy),
                _device.ptr(x), g)
    return dw, db


# ------------------------------------------------------------------------------ pooling
def pool2d_backward(mode: str, dy, in_shape, k, s, p, argmax=None, x=None, y=None):
    """dx ``in_shape`` of 2-D pooling: ``argmax`` (int32) for ``"max"``, the saved ``x`` and
    ``y`` for ``"l2"``, neither for ``"avg"``. The forward is :mod:`latentforge.ops`'."""
    dy, x, y = contiguous(dy), contiguous(x), contiguous(y)
    call = _device.Call(f"{mode}_pool2d backward", dy=dy, x=x, y=y)
    n, c, h, w = in_shape
    dx = call.empty(tuple(in_shape))
    geometry = (n, c, h, w, *k, *s, *p)
    call.launch(_C.device.pool2d_backward, _device.ptr(dx), _device.ptr(dy), _p(argmax), _p(x),
                _p(y), geometry, _POOL_MODES[mode])
    return dx


# --------------------------------------------------------------------------- batch norm
def _bn_shape(x) -> tuple[int, int, int]:
    """(N, C, HW) of an ``(N, C)`` or ``(N, C, H, W)`` array."""
    n, c = x.shape[:2]
    return n, c, (x.size // (n * c) if n * c else int(np.prod(x.shape[2:], dtype=np.int64)))


def batch_norm_forward_train(x, gamma, beta, running_mean, running_var, momentum: float,
                             eps: float):
    """(y, batch mean, invstd) in training; the float32 contiguous running statistics (or
    None) are updated in place on the device."""
    x, gamma, beta = contiguous(x), contiguous(gamma), contiguous(beta)
    call = _device.Call("batch_norm", x=x, gamma=gamma, beta=beta, running_mean=running_mean,
                        running_var=running_var)
    for name in ("running_mean", "running_var"):
        if name in call.arrays:
            call.contiguous(name)
    n, c, hw = _bn_shape(x)
    y, mean, invstd = call.empty(x.shape), call.empty((c,)), call.empty((c,))
    call.launch(_C.device.batch_norm_forward_train, _device.ptr(y), _device.ptr(mean),
                _device.ptr(invstd), _p(running_mean), _p(running_var), _device.ptr(x),
                _p(gamma), _p(beta), n, c, hw, float(momentum), float(eps))
    return y, mean, invstd


def batch_norm_forward_eval(x, gamma, beta, mean, var, eps: float):
    """y with the given statistics ``mean`` / ``var`` (C,)."""
    x, gamma, beta = contiguous(x), contiguous(gamma), contiguous(beta)
    mean, var = contiguous(mean), contiguous(var)
    call = _device.Call("batch_norm", x=x, gamma=gamma, beta=beta, mean=mean, var=var)
    n, c, hw = _bn_shape(x)
    y = call.empty(x.shape)
    call.launch(_C.device.batch_norm_forward_eval, _device.ptr(y), _device.ptr(x), _p(gamma),
                _p(beta), _device.ptr(mean), _device.ptr(var), n, c, hw, float(eps))
    return y


def batch_norm_invstd(var, eps: float):
    """``float32(1 / sqrt(float64(var) + eps))`` on the device: ``_C.batch_norm_invstd``'s
    formula (correctly rounded sqrt and division in double, then one rounding)."""
    xp = _device.array_module(var)
    return (1.0 / xp.sqrt(var.astype(np.float64) + float(eps))).astype(np.float32)


def batch_norm_backward(dy, x, mean, invstd, gamma, training: bool):
    """(dx, dgamma, dbeta): the training backward (``training``) or the evaluation one."""
    dy, x, gamma = contiguous(dy), contiguous(x), contiguous(gamma)
    call = _device.Call("batch_norm backward", dy=dy, x=x, mean=mean, invstd=invstd,
                        gamma=gamma)
    n, c, hw = _bn_shape(x)
    dx, dgamma, dbeta = call.empty(x.shape), call.empty((c,)), call.empty((c,))
    call.launch(_C.device.batch_norm_backward, _device.ptr(dx), _device.ptr(dgamma),
                _device.ptr(dbeta), _device.ptr(dy), _device.ptr(x), _device.ptr(mean),
                _device.ptr(invstd), _p(gamma), n, c, hw, bool(training))
    return dx, dgamma, dbeta


# -------------------------------------------------------------------------------- top-k
def topk_rows(x, k: int):
    """(y, mask uint8) keeping the ``k`` largest of each row of a 2-D ``x`` (ties: the lower
    column). A NaN in ``x`` raises ValueError as on the host: the kernel raises a device flag,
    which is read back here (one small synchronisation)."""
    x = contiguous(x)
    call = _device.Call("top-k", x=x)
    rows, cols = x.shape
    y = call.empty((rows, cols))
    mask = call.empty((rows, cols), np.uint8)
    flag = call.zeros((1,), np.int32)
    call.launch(_C.device.topk_rows, _device.ptr(y), _device.ptr(mask), _device.ptr(flag),
                _device.ptr(x), rows, cols, int(k))
    if int(flag[0]):
        raise ValueError("top-k: x contains NaN")
    return y, mask


def topk_rows_backward(dy, mask):
    """``dx = mask ? dy : 0`` (mask: the forward's uint8 mask)."""
    dy = contiguous(dy)
    call = _device.Call("top-k backward", dy=dy)
    rows, cols = dy.shape
    dx = call.empty((rows, cols))
    call.launch(_C.device.topk_rows_backward, _device.ptr(dx), _device.ptr(dy), _device.ptr(mask),
                rows, cols)
    return dx


# ---------------------------------------------------------- local contrast normalisation
def local_contrast_norm2d_forward(x, size: int, sigma: float, eps: float):
    """(y, mean (N, H, W), sigma_map (N, H, W), c (N,)) of an ``(N, C, H, W)`` ``x``."""
    x = contiguous(x)
    call = _device.Call("local_contrast_norm2d", x=x)
    n, c, h, w = x.shape
    y, m, s, cc = call.empty(x.shape), call.empty((n, h, w)), call.empty((n, h, w)), call.empty(
        (n,))
    call.launch(_C.device.local_contrast_norm2d_forward, _device.ptr(y), _device.ptr(m),
                _device.ptr(s), _device.ptr(cc), _device.ptr(x), n, c, h, w, int(size),
                float(sigma), float(eps))
    return y, m, s, cc


def local_contrast_norm2d_backward(dy, x, m, s, c, size: int, sigma: float, eps: float):
    """dx from the forward's saved ``x``, ``m``, ``s`` and ``c`` (plus a device work buffer of
    ``2 N H W + N`` floats, local_contrast_norm2d_cuda_work_size)."""
    dy, x = contiguous(dy), contiguous(x)
    call = _device.Call("local_contrast_norm2d backward", dy=dy, x=x, mean=m, sigma_map=s, c=c)
    n, ch, h, w = x.shape
    dx = call.empty(x.shape)
    work = call.empty((2 * n * h * w + n,))
    call.launch(_C.device.local_contrast_norm2d_backward, _device.ptr(dx), _device.ptr(work),
                _device.ptr(dy), _device.ptr(x), _device.ptr(m), _device.ptr(s), _device.ptr(c),
                n, ch, h, w, int(size), float(sigma), float(eps))
    return dx


# ------------------------------------------------------------------- locally connected 2-D
def _lc_geometry(n, c_in, hw, c_out, khw, s):
    return (n, c_in, hw[0], hw[1], c_out, khw[0], khw[1], s[0], s[1])


def locally_connected2d_forward(x, w, b, s):
    """y ``(N, C_out, OH, OW)`` of x ``(N, C_in, H, W)`` and w ``(OH, OW, C_out, C_in, kh,
    kw)`` (b ``(C_out, OH, OW)`` or None)."""
    x, w, b = contiguous(x), contiguous(w), contiguous(b)
    call = _device.Call("locally_connected2d", x=x, weight=w, bias=b)
    oh, ow, c_out, c_in, kh, kw = w.shape
    n = x.shape[0]
    y = call.empty((n, c_out, oh, ow))
    g = _lc_geometry(n, c_in, x.shape[2:], c_out, (kh, kw), s)
    call.launch(_C.device.locally_connected2d_forward, _device.ptr(y), _device.ptr(x),
                _device.ptr(w), _p(b), g)
    return y


def locally_connected2d_backward_data(dy, w, x_hw, s):
    """dx ``(N, C_in, *x_hw)``: the transpose of the layer applied to ``dy``."""
    dy, w = contiguous(dy), contiguous(w)
    call = _device.Call("locally_connected2d backward", dy=dy, weight=w)
    c_out, c_in, kh, kw = w.shape[2:]
    n = dy.shape[0]
    dx = call.empty((n, c_in, *x_hw))
    g = _lc_geometry(n, c_in, x_hw, c_out, (kh, kw), s)
    call.launch(_C.device.locally_connected2d_backward_data, _device.ptr(dx), _device.ptr(dy),
                _device.ptr(w), g)
    return dx


def locally_connected2d_backward_weights(dy, x, k_hw, s, bias: bool):
    """(dw ``(OH, OW, C_out, C_in, kh, kw)``, db ``(C_out, OH, OW)`` or None unless ``bias``)."""
    dy, x = contiguous(dy), contiguous(x)
    call = _device.Call("locally_connected2d backward", dy=dy, x=x)
    n, c_out, oh, ow = dy.shape
    c_in = x.shape[1]
    dw = call.empty((oh, ow, c_out, c_in, *k_hw))
    db = call.empty((c_out, oh, ow)) if bias else None
    g = _lc_geometry(n, c_in, x.shape[2:], c_out, k_hw, s)
    call.launch(_C.device.locally_connected2d_backward_weights, _device.ptr(dw), _p(db),
                _device.ptr(dy), _device.ptr(x), g)
    return dw, db


# ------------------------------------------------------------------------- random draws, RBM
def uniform(like, shape: tuple[int, ...], seed: int, stream: int, offset: int):
    """``_C.uniform(shape, seed, stream, offset)`` drawn where ``like`` lives: on the host, or on
    its CUDA device by ``_C.device.uniform`` (the same Philox draws, so the same values)."""
    if isinstance(like, np.ndarray) or not _device.on_device(like):
        return _C.uniform(shape, seed, stream, offset)
    call = _device.Call("uniform draws", like=like)
    u = call.empty(tuple(shape))
    call.launch(_C.device.uniform, _device.ptr(u), int(u.size), seed, stream, offset)
    return u


def sigmoid_bernoulli(z, seed: int, stream: int, offset: int):
    """``(sigmoid(z), Bernoulli(sigmoid(z)) samples)`` as ``_C.sigmoid_bernoulli``, on z's
    device: the same Philox draws (``seed``, ``stream``, from ``offset``)."""
    call = _device.Call("sigmoid_bernoulli", z=z)
    z = contiguous(z)
    p, s = call.empty(z.shape), call.empty(z.shape)
    call.launch(_C.device.sigmoid_bernoulli, _device.ptr(p), _device.ptr(s), _device.ptr(z),
                int(z.size), seed, stream, offset)
    return p, s


def rbm_free_energy(v, b_v, z):
    """``_C.rbm_free_energy(v, b_v, z)`` on the device: ``-v.b_v - sum softplus(z)`` per row of
    ``v`` (rows, n_visible) with hidden pre-activations ``z`` (rows, n_hidden)."""
    call = _device.Call("rbm_free_energy", v=v, b_v=b_v, z=z)
    v, b_v, z = contiguous(v), contiguous(b_v), contiguous(z)
    rows, n_visible = v.shape
    out = call.empty((rows,))
    call.launch(_C.device.rbm_free_energy, _device.ptr(out), _device.ptr(v), _device.ptr(b_v),
                _device.ptr(z), rows, n_visible, int(z.shape[1]))
    return out
