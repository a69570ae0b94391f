"""float64 references for latentforge's tests, written as the obvious math.

Nothing here calls latentforge: every function takes numpy arrays (any float dtype), computes
in float64 with numpy, and returns float64. Tests compare the float32 kernels with these using
the named tolerances of :mod:`latentforge.testing`. ``tests/conftest.py`` puts ``tests/`` on
``sys.path``, so test modules import this package as ``reference``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "ACTIVATIONS", "activation", "activation_backward", "activation_derivative", "sigmoid",
    "tanh", "relu", "softplus", "softmax", "softmax_backward", "log_softmax", "gemm",
    "topk_mask", "sq_distances", "knn", "entropy", "perplexity_calibration", "joint_p_dense",
    "tsne_kl", "tsne_gradient", "rbm_free_energy", "rbm_free_energy_gaussian", "batchnorm_train",
    "batch_norm_train", "batch_norm_backward", "batch_norm_eval",
    "pool2d", "pool2d_backward", "local_contrast_norm2d", "local_contrast_norm2d_backward",
    "sgd", "adagrad", "rmsprop", "adam", "adadelta", "max_norm", "random_joint_p",
    "dense_to_csr",
]


def _f64(x):
    return np.asarray(x, dtype=np.float64)


# ----------------------------------------------------------------------------- activations
def sigmoid(z):
    """1 / (1 + exp(-z)), evaluated without overflow for either sign (NaN kept)."""
    z = _f64(z)
    with np.errstate(all="ignore"):
        e = np.exp(-np.abs(z))
        return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def tanh(z):
    return np.tanh(_f64(z))


def relu(z):
    """max(z, 0) with NaN kept (NaN < 0 is False)."""
    z = _f64(z)
    return np.where(z < 0, 0.0, z)


def softplus(z):
    """log(1 + exp(z)) without overflow."""
    return np.logaddexp(0.0, _f64(z))


#: Activation by name (and by the native code: 0 none, 1 sigmoid, 2 tanh, 3 relu).
ACTIVATIONS = {None: _f64, "sigmoid": sigmoid, "tanh": tanh, "relu": relu}


_BY_VALUE = {0: None, 1: "sigmoid", 2: "tanh", 3: "relu"}  # lf.Activation's values


def _name(act):
    """None / a name / an lf.Activation member (which has ``.name``) / its integer value."""
    if isinstance(act, int):
        return _BY_VALUE[act]
    name = getattr(act, "name", act)
    return None if name == "none" else name


def activation(z, act):
    """act(z) for act in None / "sigmoid" / "tanh" / "relu" (or an lf.Activation member)."""
    return ACTIVATIONS[_name(act)](z)


def activation_derivative(z, act):
    """d act / dz at the pre-activation z (ReLU: 1 where z > 0, else 0)."""
    act, z = _name(act), _f64(z)
    if act is None:
        return np.ones_like(z)
    if act == "sigmoid":
        y = sigmoid(z)
        return y * (1.0 - y)
    if act == "tanh":
        return 1.0 - np.tanh(z) ** 2
    return (z > 0).astype(np.float64)


def activation_backward(dy, y, act):
    """dx from the output y (how the kernels compute it): dy * act'(z) written in y."""
    act = _name(act)
    dy, y = _f64(dy), _f64(y)
    with np.errstate(all="ignore"):
        if act == "sigmoid":
            return dy * y * (1.0 - y)
        if act == "tanh":
            return dy * (1.0 - y * y)
        if act == "relu":
            return np.where(y > 0, dy, 0.0)
        return dy


def softmax(x, axis=-1):
    """exp(x - max) / sum exp(x - max) along ``axis`` (rows with NaN or +inf give NaN)."""
    x = _f64(x)
    if x.size == 0:
        return x
    with np.errstate(all="ignore"):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)


def softmax_backward(dy, y, axis=-1):
    """dx = y * (dy - sum(dy * y)) along ``axis``."""
    dy, y = _f64(dy), _f64(y)
    return y * (dy - (dy * y).sum(axis=axis, keepdims=True))


def log_softmax(x, axis=-1):
    x = _f64(x)
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


# ----------------------------------------------------------------------------- GEMM
def gemm(A, B, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, C=None, bias=None,
         act=None, bias_rows=False):
    """act(alpha op(A) op(B) + beta C + bias) and the bound's ``|alpha| |op(A)| @ |op(B)|``.

    ``bias`` is added per column (length N), or per row (length M) with ``bias_rows``.
    Returns ``(value, abs_prod)``; ``abs_prod`` scales the float32 error bound of the product.
    """
    a, b = _f64(A), _f64(B)
    a = a.T if trans_a else a
    b = b.T if trans_b else b
    z = alpha * (a @ b)
    if beta != 0.0 and C is not None:
        z = z + beta * _f64(C)
    if bias is not None:
        bv = _f64(bias)
        z = z + (bv[:, None] if bias_rows else bv[None, :])
    return activation(z, act), abs(alpha) * (np.abs(a) @ np.abs(b))


def topk_mask(x, k):
    """Row-wise top-k mask: value descending, ties by the lower column index."""
    x = _f64(x)
    order = np.argsort(-x, axis=1, kind="stable")[:, :k]
    mask = np.zeros(x.shape, dtype=np.uint8)
    np.put_along_axis(mask, order, 1, axis=1)
    return mask


# ----------------------------------------------------------------------------- kNN, t-SNE
def sq_distances(X):
    """Exact squared Euclidean distances between rows, diagonal = +inf."""
    X = _f64(X)
    D = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(D, np.inf)
    return D


def knn(X, k):
    """k nearest neighbours by (distance, index): indices and squared distances."""
    D = sq_distances(X)
    idx = np.argsort(D, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(D, idx, axis=1)


def entropy(P):
    """Row entropies -sum p log p (0 log 0 = 0)."""
    P = _f64(P)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(P > 0, P * np.log(P), 0.0)
    return -t.sum(axis=1)


def perplexity_calibration(D, perplexity, tol=1e-10, max_iter=200):
    """Per row, p = exp(-beta d) / sum with beta found by bisection so that H(p) = log(perp)."""
    D = _f64(D)
    P = np.empty_like(D)
    target = np.log(perplexity)
    for i, d in enumerate(D):
        d = d - d.min()
        if d.sum() == 0:
            P[i] = 1.0 / len(d)
            continue
        beta, lo, hi = 1.0, 0.0, np.inf
        for _ in range(max_iter):
            w = np.exp(-beta * d)
            p = w / w.sum()
            H = -(p[p > 0] * np.log(p[p > 0])).sum()
            if abs(H - target) <= tol:
                break
            if H > target:
                lo, beta = beta, (beta * 2 if np.isinf(hi) else (beta + hi) / 2)
            else:
                hi, beta = beta, (beta + lo) / 2
        P[i] = p
    return P


def joint_p_dense(X, perplexity, k):
    """Dense t-SNE input affinities: kNN, calibration, then (P + P^T) / 2n."""
    n = len(X)
    idx, d = knn(X, k)
    M = np.zeros((n, n))
    np.put_along_axis(M, idx, perplexity_calibration(d, perplexity), axis=1)
    return (M + M.T) / (2 * n)


def _tsne_q(Y):
    Y = _f64(Y)
    diff = Y[:, None, :] - Y[None, :, :]
    W = 1.0 / (1.0 + (diff**2).sum(-1))
    np.fill_diagonal(W, 0.0)
    return diff, W, W / W.sum()


def tsne_kl(Y, P):
    """KL(P || Q) with Student-t Q of the embedding Y (terms with P = 0 are 0)."""
    P = _f64(P)
    _, _, Q = _tsne_q(Y)
    m = P > 0
    return float((P[m] * np.log(P[m] / Q[m])).sum())


def tsne_gradient(Y, P, exaggeration=1.0):
    """dKL/dY = 4 sum_j (e p_ij - q_ij) w_ij (y_i - y_j)."""
    diff, W, Q = _tsne_q(Y)
    return 4.0 * (((exaggeration * _f64(P) - Q) * W)[:, :, None] * diff).sum(1)


# ----------------------------------------------------------------------------- RBM
def rbm_free_energy(V, b_v, Z):
    """Bernoulli RBM free energy from the hidden pre-activations Z = V W^T + b_h."""
    return -(_f64(V) @ _f64(b_v)) - softplus(Z).sum(axis=1)


def rbm_free_energy_gaussian(V, b_v, Z):
    """Gaussian-visible (unit variance) RBM: 0.5 |v - b_v|^2 - sum softplus(Z)."""
    return 0.5 * ((_f64(V) - _f64(b_v)) ** 2).sum(1) - softplus(Z).sum(axis=1)


# ----------------------------------------------------------------------------- batch norm
def batchnorm_train(x, gamma, beta, eps):
    """(x - mean) / sqrt(var + eps) * gamma + beta over axis 0 (biased variance)."""
    x = _f64(x)
    mean = x.mean(axis=0)
    var = x.var(axis=0)
    return (x - mean) / np.sqrt(var + eps) * _f64(gamma) + _f64(beta)


def _bn_axes(x):
    """The reduction axes of batch norm (every axis but 1) and the per-channel broadcast shape."""
    return (0,) + tuple(range(2, x.ndim)), (1, x.shape[1]) + (1,) * (x.ndim - 2)


def batch_norm_train(x, gamma, beta, eps):
    """Training batch norm of a 2-D (N, C) or 4-D (N, C, H, W) x per channel: returns
    (y, mean, invstd, unbiased variance), all float64. gamma / beta None mean 1 / 0."""
    x = _f64(x)
    axes, shp = _bn_axes(x)
    n = x.size // x.shape[1]
    mean = x.sum(axis=axes) / n
    var = ((x - mean.reshape(shp)) ** 2).sum(axis=axes) / n
    invstd = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean.reshape(shp)) * invstd.reshape(shp)
    g = 1.0 if gamma is None else _f64(gamma).reshape(shp)
    b = 0.0 if beta is None else _f64(beta).reshape(shp)
    return xhat * g + b, mean, invstd, var * n / (n - 1)


def batch_norm_backward(dy, x, gamma, invstd, mean=None):
    """Backward of batch norm given invstd: training (mean None: the batch mean of x, and
    dx = invstd / n (n dxhat - sum dxhat - xhat sum(dxhat xhat))) or evaluation (the given mean
    and invstd are constants: dx = dy gamma invstd). Returns (dx, dgamma, dbeta) in float64."""
    dy, x = _f64(dy), _f64(x)
    axes, shp = _bn_axes(x)
    n = x.size // x.shape[1]
    training = mean is None
    mu = x.sum(axis=axes) / n if training else _f64(mean)
    xhat = (x - mu.reshape(shp)) * _f64(invstd).reshape(shp)
    g = np.ones(x.shape[1]) if gamma is None else _f64(gamma)
    dxhat = dy * g.reshape(shp)
    if training:
        dx = (_f64(invstd).reshape(shp) / n) * (
            n * dxhat
            - dxhat.sum(axis=axes, keepdims=True)
            - xhat * (dxhat * xhat).sum(axis=axes, keepdims=True)
        )
    else:
        dx = dxhat * _f64(invstd).reshape(shp)
    return dx, (dy * xhat).sum(axis=axes), dy.sum(axis=axes)


def batch_norm_eval(x, gamma, beta, mean, var, eps):
    """(x - mean) / sqrt(var + eps) * gamma + beta per channel (axis 1), float64."""
    x = _f64(x)
    _, shp = _bn_axes(x)
    y = (x - _f64(mean).reshape(shp)) / np.sqrt(_f64(var).reshape(shp) + eps)
    g = 1.0 if gamma is None else _f64(gamma).reshape(shp)
    b = 0.0 if beta is None else _f64(beta).reshape(shp)
    return y * g + b
# ----------------------------------------------------------------------------- 2-D pooling
def _pool_windows(shape, kernel_size, stride, padding):
    """For every output (oh, ow): the flat indices h*W + w of its window's input elements in
    row-major window order, padding left out."""
    H, W = shape[2], shape[3]
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    OH, OW = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    windows = {}
    for oh in range(OH):
        for ow in range(OW):
            windows[oh, ow] = [
                h * W + w
                for h in range(oh * sh - ph, oh * sh - ph + kh)
                for w in range(ow * sw - pw, ow * sw - pw + kw)
                if 0 <= h < H and 0 <= w < W
            ]
    return (OH, OW), windows


def pool2d(x, mode, kernel_size, stride, padding):
    """2-D pooling of an (N, C, H, W) array by the obvious loops, in float64: "max" (the first
    maximum of each window in row-major order; a NaN is the maximum, numpy's argmax rule),
    "avg" (window sum / (kh*kw), padding counting as zeros) or "l2" (sqrt of the window's sum of
    squares). Returns y, and for "max" (y, argmax) with argmax the flat index h*W + w."""
    x = _f64(x)
    N, C = x.shape[:2]
    (OH, OW), windows = _pool_windows(x.shape, kernel_size, stride, padding)
    flat = x.reshape(N, C, -1)
    y = np.empty((N, C, OH, OW))
    argmax = np.empty((N, C, OH, OW), np.int64)
    for (oh, ow), idx in windows.items():
        v = flat[:, :, idx]  # (N, C, window size)
        if mode == "max":
            k = np.argmax(v, axis=-1)
            y[:, :, oh, ow] = np.take_along_axis(v, k[..., None], -1)[..., 0]
            argmax[:, :, oh, ow] = np.asarray(idx)[k]
        elif mode == "avg":
            y[:, :, oh, ow] = v.sum(-1) / (kernel_size[0] * kernel_size[1])
        else:
            y[:, :, oh, ow] = np.sqrt((v * v).sum(-1))
    return (y, argmax) if mode == "max" else y


def pool2d_backward(dy, mode, x_shape, kernel_size, stride, padding, argmax=None, x=None, y=None):
    """dx of pool2d in float64 by the obvious loops: "max" adds dy to the argmax, "avg" spreads
    dy / (kh*kw) over each window, "l2" adds dy * x / y over each window (0 where y == 0; y is
    the given forward output, else recomputed)."""
    dy = _f64(dy)
    N, C, H, W = x_shape
    (OH, OW), windows = _pool_windows(x_shape, kernel_size, stride, padding)
    dx = np.zeros((N, C, H * W))
    if mode == "l2":
        xf = _f64(x).reshape(N, C, -1)
        y = pool2d(x, "l2", kernel_size, stride, padding) if y is None else _f64(y)
    for (oh, ow), idx in windows.items():
        g = dy[:, :, oh, ow]
        if mode == "max":
            for n in range(N):
                for c in range(C):
                    dx[n, c, argmax[n, c, oh, ow]] += g[n, c]
        elif mode == "avg":
            dx[:, :, idx] += (g / (kernel_size[0] * kernel_size[1]))[..., None]
        else:
            yo = y[:, :, oh, ow]
            r = np.where(yo != 0, 1 / np.where(yo != 0, yo, 1), 0)
            dx[:, :, idx] += (g * r)[..., None] * xf[:, :, idx]
    return dx.reshape(x_shape)


# -------------------------------------------------------------- local contrast normalisation
def _lcn_weights(size, sigma):
    """The full 2-D Gaussian window w[p + r, q + r] (r = size // 2), summing to 1."""
    r = size // 2
    g = np.exp(-0.5 * (np.arange(-r, r + 1, dtype=np.float64) / sigma) ** 2)
    w = np.outer(g, g)
    return w / w.sum(), r


def _lcn_gather(f, w, r):
    """out[..., i, j] = sum over offsets (p, q) with (i + p, j + q) inside the image of
    w[p + r, q + r] * f[..., i + p, j + q] (zero padding)."""
    H, W = f.shape[-2:]
    out = np.zeros(f.shape)
    for p in range(-r, r + 1):
        for q in range(-r, r + 1):
            i0, i1, j0, j1 = max(0, -p), min(H, H - p), max(0, -q), min(W, W - q)
            if i0 < i1 and j0 < j1:
                out[..., i0:i1, j0:j1] += w[p + r, q + r] * f[..., i0 + p:i1 + p, j0 + q:j1 + q]
    return out


def _lcn_scatter(f, w, r):
    """The adjoint of _lcn_gather: every position (i, j) sends w[p + r, q + r] * f[..., i, j] to
    each in-bounds (i + p, j + q) of its window."""
    H, W = f.shape[-2:]
    out = np.zeros(f.shape)
    for p in range(-r, r + 1):
        for q in range(-r, r + 1):
            i0, i1, j0, j1 = max(0, -p), min(H, H - p), max(0, -q), min(W, W - q)
            if i0 < i1 and j0 < j1:
                out[..., i0 + p:i1 + p, j0 + q:j1 + q] += w[p + r, q + r] * f[..., i0:i1, j0:j1]
    return out


def _lcn_stats(x, size, sigma, eps):
    x = _f64(x)
    N, C, H, W = x.shape
    w, r = _lcn_weights(size, sigma)
    Z = _lcn_gather(np.ones((H, W)), w, r)  # the in-bounds weight of each window

    def avg(f):  # the window average over maps j and offsets (p, q)
        return _lcn_gather(f.sum(axis=1), w, r) / (C * Z)

    m = avg(x)
    v = x - m[:, None]
    s = np.sqrt(avg(v * v))
    c = s.mean(axis=(1, 2))
    cb = c[:, None, None]
    sel = np.where((cb >= s) & (cb >= eps), 0, np.where(s >= eps, 1, 2))  # ties: c, then sigma
    d = np.where(sel == 0, cb, np.where(sel == 1, s, eps))
    return dict(w=w, r=r, Z=Z, m=m, v=v, s=s, c=c, sel=sel, d=d)


def local_contrast_norm2d(x, size, sigma, eps):
    """Local contrast normalisation (Jarrett et al. 2009) of (N, C, H, W) x, each sample alone:
    m = sum_{j,p,q} w_pq x_{j,x+p,y+q} / (C Z_xy) with the full Gaussian window w and Z_xy its
    in-bounds weight; v = x - m; sigma_xy = sqrt(the same average of v**2); c = mean of sigma;
    y = v / max(c, sigma, eps). Returns (y, m, sigma, c)."""
    st = _lcn_stats(x, size, sigma, eps)
    return st["v"] / st["d"][:, None], st["m"], st["s"], st["c"]


def local_contrast_norm2d_backward(dy, x, size, sigma, eps):
    """dx of local_contrast_norm2d by the chain rule, step by step (the max's branch as in the
    forward; 0 through sigma == 0)."""
    st = _lcn_stats(x, size, sigma, eps)
    dy = _f64(dy)
    N, C, H, W = dy.shape
    v, s, d, sel, Z, w, r = (st[k] for k in ("v", "s", "d", "sel", "Z", "w", "r"))
    gd = -(dy * v).sum(axis=1) / d**2  # y = v / d
    gc = np.where(sel == 0, gd, 0.0).sum(axis=(1, 2))  # d = c
    gs = np.where(sel == 1, gd, 0.0) + gc[:, None, None] / (H * W)  # d = sigma; c = mean sigma
    gs2 = np.where(s > 0, gs / (2 * np.where(s > 0, s, 1.0)), 0.0)  # sigma = sqrt(s2)
    gq = _lcn_scatter(gs2 / (C * Z), w, r)  # s2 = window average of sum_j v^2
    gv = dy / d[:, None] + 2 * v * gq[:, None]
    gm = -gv.sum(axis=1)  # v = x - m
    return gv + _lcn_scatter(gm / (C * Z), w, r)[:, None]  # m = window average of sum_j x

# ----------------------------------------------------------------------------- optimizers
# Each takes the parameter p (float64, updated in place), the gradient g, a state dict st
# (created on first use), the hyper-parameters h and the step count t (from 1).
def _g(p, g, h):
    return g + h.get("weight_decay", 0.0) * p + h.get("l1", 0.0) * np.sign(p)


def sgd(p, g, st, h, t):
    g = _g(p, g, h)
    mu = h.get("momentum", 0.0)
    if mu == 0.0:
        p -= h["lr"] * g
        return
    b = st.setdefault("momentum_buffer", np.zeros_like(p))
    b[...] = mu * b + g
    p -= h["lr"] * (g + mu * b) if h.get("nesterov") else h["lr"] * b


def adagrad(p, g, st, h, t):
    g = _g(p, g, h)
    s = st.setdefault("sum", np.zeros_like(p))
    s += g * g
    p -= h.get("lr", 0.01) * g / (np.sqrt(s) + h.get("eps", 1e-10))


def rmsprop(p, g, st, h, t):
    g = _g(p, g, h)
    alpha, eps = h.get("alpha", 0.99), h.get("eps", 1e-8)
    lr, mu = h.get("lr", 0.01), h.get("momentum", 0.0)
    s = st.setdefault("square_avg", np.zeros_like(p))
    s[...] = alpha * s + (1 - alpha) * g * g
    step = g / (np.sqrt(s) + eps)
    if mu > 0:
        b = st.setdefault("momentum_buffer", np.zeros_like(p))
        b[...] = mu * b + step
        step = b
    p -= lr * step


def adam(p, g, st, h, t):
    g = _g(p, g, h)
    b1, b2 = h.get("betas", (0.9, 0.999))
    lr, eps = h.get("lr", 1e-3), h.get("eps", 1e-8)
    m = st.setdefault("exp_avg", np.zeros_like(p))
    v = st.setdefault("exp_avg_sq", np.zeros_like(p))
    m[...] = b1 * m + (1 - b1) * g
    v[...] = b2 * v + (1 - b2) * g * g
    mhat, vhat = m / (1 - b1**t), v / (1 - b2**t)
    p -= lr * mhat / (np.sqrt(vhat) + eps)


def adadelta(p, g, st, h, t):
    g = _g(p, g, h)
    rho, eps, lr = h.get("rho", 0.9), h.get("eps", 1e-6), h.get("lr", 1.0)
    s = st.setdefault("square_avg", np.zeros_like(p))
    a = st.setdefault("acc_delta", np.zeros_like(p))
    s[...] = rho * s + (1 - rho) * g * g
    dx = np.sqrt(a + eps) / np.sqrt(s + eps) * g
    a[...] = rho * a + (1 - rho) * dx * dx
    p -= lr * dx


def max_norm(W, c, axis=1):
    """Rescale rows (axis=1) or columns (axis=0) whose L2 norm exceeds c to norm c.

    Returns the rescaled float64 W and how many were rescaled."""
    norms = np.sqrt((_f64(W) ** 2).sum(axis=axis, keepdims=True))
    scale = np.where(norms > c, c / np.where(norms > 0, norms, 1.0), 1.0)
    return _f64(W) * scale, int((norms > c).sum())


# ----------------------------------------------------------------------------- test data
def random_joint_p(n, rng, density=1.0):
    """Random symmetric P with zero diagonal summing to 1 (float64)."""
    P = rng.random((n, n))
    if density < 1.0:
        P *= rng.random((n, n)) < density
    P = P + P.T
    np.fill_diagonal(P, 0.0)
    return P / P.sum()


def dense_to_csr(P):
    """(indptr int64, indices int64, values float32) of the non-zeros of P, rows in order."""
    P = np.asarray(P, dtype=np.float32)
    rows, cols = np.nonzero(P)
    indptr = np.zeros(P.shape[0] + 1, dtype=np.int64)
    np.add.at(indptr, rows + 1, 1)
    return np.cumsum(indptr), cols.astype(np.int64), P[rows, cols].astype(np.float32)


# ----------------------------------------------------------------------------- 2-D convolution
__all__ += ["conv2d", "conv2d_backward_data", "conv2d_backward_weights"]


def _conv2d_pad(x, padding):
    ph, pw = padding
    return np.pad(_f64(x), ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def _conv2d_out(H, W, kh, kw, stride, padding):
    return (H + 2 * padding[0] - kh) // stride[0] + 1, (W + 2 * padding[1] - kw) // stride[1] + 1


def conv2d(x, w, b=None, stride=(1, 1), padding=(0, 0)):
    """y[n, o, oh, ow] = b[o] + sum_{c, i, j} w[o, c, i, j] * xpad[n, c, oh*sh + i, ow*sw + j]:
    one output position at a time, the window times the kernel (PyTorch's conv2d)."""
    xp, w = _conv2d_pad(x, padding), _f64(w)
    N, _, H, W = np.shape(x)
    C_out, _, kh, kw = w.shape
    OH, OW = _conv2d_out(H, W, kh, kw, stride, padding)
    y = np.zeros((N, C_out, OH, OW))
    for oh in range(OH):
        for ow in range(OW):
            r, c = oh * stride[0], ow * stride[1]
            win = xp[:, :, r : r + kh, c : c + kw]
            y[:, :, oh, ow] = np.einsum("ncij,ocij->no", win, w)
    if b is not None:
        y += _f64(b)[None, :, None, None]
    return y


def conv2d_backward_data(dy, w, hw, stride=(1, 1), padding=(0, 0)):
    """dx of sum(y * dy): every output position sends dy[n, o, oh, ow] * w[o] back to the
    window it read (accumulated in the padded input, then the padding is cut off)."""
    dy, w = _f64(dy), _f64(w)
    N, _, OH, OW = dy.shape
    _, C_in, kh, kw = w.shape
    H, W = hw
    dxp = np.zeros((N, C_in, H + 2 * padding[0], W + 2 * padding[1]))
    for oh in range(OH):
        for ow in range(OW):
            r, c = oh * stride[0], ow * stride[1]
            dxp[:, :, r : r + kh, c : c + kw] += np.einsum("no,ocij->ncij", dy[:, :, oh, ow], w)
    return dxp[:, :, padding[0] : padding[0] + H, padding[1] : padding[1] + W]


def conv2d_backward_weights(dy, x, khw, stride=(1, 1), padding=(0, 0)):
    """(dw, db) of sum(y * dy): dw[o] = sum over n and output positions of dy * the window;
    db[o] = sum of dy over n, oh, ow."""
    dy, xp = _f64(dy), _conv2d_pad(x, padding)
    N, C_out, OH, OW = dy.shape
    kh, kw = khw
    dw = np.zeros((C_out, xp.shape[1], kh, kw))
    for oh in range(OH):
        for ow in range(OW):
            r, c = oh * stride[0], ow * stride[1]
            win = xp[:, :, r : r + kh, c : c + kw]
            dw += np.einsum("no,ncij->ocij", dy[:, :, oh, ow], win)
    return dw, dy.sum(axis=(0, 2, 3))


# ------------------------------------------------------------------ 2-D locally connected layer
__all__ += [
    "locally_connected2d",
    "locally_connected2d_backward_data",
    "locally_connected2d_backward_weights",
]


def _lc2d_out(H, W, kh, kw, stride):
    return (H - kh) // stride[0] + 1, (W - kw) // stride[1] + 1


def locally_connected2d(x, w, b=None, stride=(1, 1)):
    """y[n, o, oh, ow] = b[o, oh, ow] + sum_{c, i, j} w[oh, ow, o, c, i, j] * x[n, c, oh*sh + i,
    ow*sw + j]: one output position at a time, the window times that position's own kernel."""
    x, w = _f64(x), _f64(w)
    N, _, H, W = x.shape
    OH, OW, C_out, _, kh, kw = w.shape
    assert (OH, OW) == _lc2d_out(H, W, kh, kw, stride)
    y = np.zeros((N, C_out, OH, OW))
    for oh in range(OH):
        for ow in range(OW):
            r, c = oh * stride[0], ow * stride[1]
            win = x[:, :, r : r + kh, c : c + kw]
            y[:, :, oh, ow] = np.einsum("ncij,ocij->no", win, w[oh, ow])
    if b is not None:
        y += _f64(b)[None]
    return y


def locally_connected2d_backward_data(dy, w, hw, stride=(1, 1)):
    """dx of sum(y * dy): every output position sends dy[n, o, oh, ow] * w[oh, ow, o] back to
    the window it read."""
    dy, w = _f64(dy), _f64(w)
    N, _, OH, OW = dy.shape
    _, _, _, C_in, kh, kw = w.shape
    dx = np.zeros((N, C_in, *hw))
    for oh in range(OH):
        for ow in range(OW):
            r, c = oh * stride[0], ow * stride[1]
            dx[:, :, r : r + kh, c : c + kw] += np.einsum("no,ocij->ncij", dy[:, :, oh, ow],
                                                          w[oh, ow])
    return dx


def locally_connected2d_backward_weights(dy, x, khw, stride=(1, 1)):
    """(dw, db) of sum(y * dy): dw[oh, ow, o] = sum over n of dy[n, o, oh, ow] * the window;
    db[o, oh, ow] = sum of dy over n."""
    dy, x = _f64(dy), _f64(x)
    N, C_out, OH, OW = dy.shape
    kh, kw = khw
    dw = np.zeros((OH, OW, C_out, x.shape[1], kh, kw))
    for oh in range(OH):
        for ow in range(OW):
            r, c = oh * stride[0], ow * stride[1]
            win = x[:, :, r : r + kh, c : c + kw]
            dw[oh, ow] = np.einsum("no,ncij->ocij", dy[:, :, oh, ow], win)
    return dw, dy.sum(axis=0)
