"""The child-process side of the malformed-input fuzz test (``tests/fuzz/test_fuzz.py``).

Run as ``python tests/fuzz/_worker.py``: a small server that reads case descriptions from
stdin and writes one result per case to stdout, both as length-prefixed pickles of plain data
(dicts, lists, strings, numbers). A case names an entry point (a key of :data:`ENTRIES`) and
gives a *recipe* for every argument; the arrays are built here, in the child, so that the odd
layouts being tested (transposed, strided, negative strides, read-only, byte-swapped,
unaligned, stride-0 views of a huge shape) reach the library exactly as described -- pickling
them would normalise them.

For a case marked ``compare``, the entry point is also run on the *clean* inputs (every array
argument converted to a C-contiguous, aligned, native float32 copy of the same values) and the
two results are compared here. The parent (test_fuzz.py) judges the outcome; it also catches
what this process cannot report itself: a crash (the process dies) and a hang (no answer in
time; the parent kills the process).

Anything the library prints goes to stderr: the protocol uses a private copy of fd 1.
"""

from __future__ import annotations

import copy
import os
import pickle
import resource
import struct
import sys
import time
import traceback
import warnings

import numpy as np

# ---------------------------------------------------------------------------- recipes

#: Base data of the fitted models (the estimator cases call their methods on a model fitted
#: on these once per worker): uniform [0, 1) so that Bernoulli RBMs and BCE autoencoders
#: accept it, and two alternating classes.
N_FIT, D_FIT = 24, 5


def _values(shape, seed: int, dist: str) -> np.ndarray:
    """float64 values of ``shape`` (deterministic in ``seed``)."""
    rng = np.random.default_rng(seed)
    if dist == "normal":
        return rng.standard_normal(shape)
    if dist == "unit":  # [0, 1)
        return rng.uniform(0.0, 1.0, shape)
    if dist == "open":  # (0, 1), away from the ends (probabilities, sparsity activations)
        return rng.uniform(0.05, 0.95, shape)
    if dist == "labels":  # 0, 1, 0, 1, ... along axis 0 (two classes)
        out = np.zeros(shape)
        if out.ndim:
            out[...] = (np.arange(out.shape[0]) % 2).reshape((-1,) + (1,) * (out.ndim - 1))
        return out
    if dist == "ints":
        return np.floor(rng.uniform(0.0, 3.0, shape))
    raise ValueError(f"unknown dist {dist!r}")


def _typed(v: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "bool":
        return v > 0.5
    if dtype in ("object", "object_str"):
        out = np.empty(v.shape, dtype=object)
        flat = out.reshape(-1)
        for i, x in enumerate(v.reshape(-1)):
            flat[i] = "a" if dtype == "object_str" and i == 0 else float(x)
        return out
    if dtype == "str":
        return v.astype(str)
    dt = np.dtype(dtype)
    if dt.kind in "iu":
        if not np.array_equal(v, np.floor(v)):  # spread reals over a few integers
            v = np.rint(v * 3)
        return (np.abs(v) if dt.kind == "u" else v).astype(dt)
    return v.astype(dt)


def _layout(a: np.ndarray, layout: str):
    if layout in ("c", None):
        return a
    if layout == "f":
        return np.asfortranarray(a)
    if layout == "strided":  # every other element of a wider array, along the last axis
        if a.ndim == 0:
            return a
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
        big[..., ::2] = a
        return big[..., ::2]
    if layout == "negstride":  # a reversed view of the reversed copy: same values
        if a.ndim == 0:
            return a
        return np.ascontiguousarray(a[::-1])[::-1]
    if layout == "readonly":
        a = a.copy()
        a.flags.writeable = False
        return a
    if layout == "byteswap":
        return a.astype(a.dtype.newbyteorder())
    if layout == "unaligned":
        buf = np.zeros(a.nbytes + a.itemsize + 1, dtype=np.uint8)
        out = buf[1 : 1 + a.nbytes].view(a.dtype).reshape(a.shape)
        out[...] = a
        return out
    if layout == "list":
        return a.tolist()
    if layout == "tuple_rows":  # a list of 1-D arrays
        return [row for row in a] if a.ndim >= 1 else a
    raise ValueError(f"unknown layout {layout!r}")


def build_array(spec: dict):
    """The array described by ``spec`` (see test_fuzz.py's ``arr()``)."""
    shape = tuple(spec["shape"])
    dtype = spec.get("dtype", "float32")
    if spec.get("layout") == "bcast":
        # A stride-0 view of a shape too large to allocate: nothing is allocated here.
        small = tuple(1 if n > 4096 else n for n in shape)
        base = _typed(_values(small, spec.get("seed", 0), spec.get("dist", "normal")), dtype)
        return np.broadcast_to(base, shape)
    v = _values(shape, spec.get("seed", 0), spec.get("dist", "normal"))
    poison = spec.get("poison")
    if poison and v.size:
        v.reshape(-1)[spec.get("poison_at", 0) % v.size] = {
            "nan": np.nan, "inf": np.inf, "-inf": -np.inf, "big": 1e39}[poison]
    return _layout(_typed(v, dtype), spec.get("layout", "c"))


def clean_copy(x):
    """The clean counterpart of a built value: a C-contiguous native float32 copy of the same
    values for arrays and nested lists of numbers; anything else unchanged."""
    if isinstance(x, np.ndarray) and x.dtype.kind in "iu":  # labels stay integers
        return np.array(x, dtype=np.int64, order="C", copy=True)
    if isinstance(x, np.ndarray) and x.dtype.kind in "fb":
        return np.array(x, dtype=np.float32, order="C", copy=True)
    if isinstance(x, np.ndarray) and x.dtype.kind == "O":
        return np.array(x.astype(np.float64), dtype=np.float32, order="C")
    if isinstance(x, list):
        try:
            arr = np.array(x)
        except (TypeError, ValueError):
            return x
        return clean_copy(arr) if arr.dtype.kind in "fiub" else x
    return x


# ---------------------------------------------------------------------------- outputs


def arrays_of(obj, depth: int = 0) -> list:
    """The numbers a result holds, as a flat list of float64 arrays (for the comparisons)."""
    import latentforge as lf

    if depth > 4 or obj is None or isinstance(obj, (str, bytes, bool)):
        return []
    if isinstance(obj, lf.Tensor):
        obj = obj.data
    if isinstance(obj, (int, float, np.number, np.bool_)):
        return [np.asarray(obj, dtype=np.float64)]
    if isinstance(obj, np.ndarray):
        return [obj] if obj.dtype.kind in "fiub" else []
    if isinstance(obj, (list, tuple)):
        return [a for x in obj for a in arrays_of(x, depth + 1)]
    if isinstance(obj, dict):
        return [a for k in sorted(obj, key=str) for a in arrays_of(obj[k], depth + 1)]
    if isinstance(obj, lf.nn.Module):
        return [p.data for p in obj.parameters()]
    if hasattr(obj, "get_params"):  # an estimator: its fitted attributes, by name
        names = sorted(k for k in vars(obj) if k.endswith("_") and not k.startswith("_"))
        return [a for k in names for a in arrays_of(getattr(obj, k), depth + 1)]
    if hasattr(obj, "data") and isinstance(obj.data, np.ndarray):  # a duck-typed parameter
        return [obj.data]
    return []


BIG = 10**7  # results larger than this (views of huge inputs) are not scanned


def compare(got, want, loose: bool) -> str | None:
    """None when ``got`` matches ``want`` (shapes equal, values close, NaN where NaN), else
    what differs. ``loose`` is for inputs that may be computed in float64 (the float32 copy
    then differs by rounding); layout variants of the same float32 values are held to
    float32 rounding of a different summation order."""
    ga, wa = arrays_of(got), arrays_of(want)
    if len(ga) != len(wa):
        return f"{len(ga)} arrays in the result, {len(wa)} on the clean input"
    rtol, atol = (1e-3, 1e-4) if loose else (1e-5, 1e-6)
    for i, (g, w) in enumerate(zip(ga, wa)):
        if g.shape != w.shape:
            return f"array {i}: shape {g.shape}, {w.shape} on the clean input"
        if g.size > BIG:
            continue
        g, w = g.astype(np.float64), w.astype(np.float64)
        if np.isnan(g).any() or np.isnan(w).any():
            if not np.array_equal(np.isnan(g), np.isnan(w)):
                return f"array {i}: NaN at different places than on the clean input"
        scale = max(1.0, float(np.nanmax(np.abs(np.where(np.isinf(w), 0, w)), initial=0.0)))
        if not np.allclose(g, w, rtol=rtol, atol=atol * scale, equal_nan=True):
            err = np.nanmax(np.abs(g - w))
            return f"array {i} (shape {g.shape}): max abs difference {err:.3g} (scale {scale:.3g})"
    return None


def summary(obj) -> str:
    arrs = arrays_of(obj)
    if not arrs:
        return type(obj).__name__
    return ", ".join(f"{a.shape}" for a in arrs[:4]) + (" ..." if len(arrs) > 4 else "")


def all_finite(obj) -> bool:
    return all(bool(np.isfinite(a).all()) for a in arrays_of(obj) if a.size <= BIG)


# ---------------------------------------------------------------------------- values


class P:
    """A duck-typed optimizer parameter (``.data``, ``.grad``), as latentforge.optim takes."""

    def __init__(self, data, grad):
        self.data, self.grad = data, grad


class Lazy:
    """A value made inside the timed call (a Tensor, a parameter, an nn layer): its own
    failures belong to the call under test, not to the recipe."""

    def __init__(self, kind: str, parts: dict):
        self.kind, self.parts = kind, parts


def build(spec, env: dict):
    """Phase 1 (before the call): arrays, literals, lists; Tensors and parameters as Lazy."""
    if not isinstance(spec, dict):
        return spec
    if "lit" in spec:
        return spec["lit"]
    if "arr" in spec:
        return build_array(spec["arr"])
    if "ref" in spec:  # the very object built for another argument (aliasing)
        return env[spec["ref"]]
    if "view" in spec:  # a view of another argument's array: ``view`` = (name, kind)
        base = env[spec["view"]]
        if isinstance(base, Lazy):
            base = base.parts["data" if base.kind == "param" else "x"]
        return base.T if spec.get("how") == "T" else base[...]
    if "list_of" in spec:
        return [build(s, env) for s in spec["list_of"]]
    if "tuple_of" in spec:
        return tuple(build(s, env) for s in spec["tuple_of"])
    if "dict_of" in spec:
        return {k: build(s, env) for k, s in spec["dict_of"].items()}
    if "tensor" in spec:
        return Lazy("tensor", {"x": build(spec["tensor"], env), "rg": spec.get("rg", False)})
    if "param" in spec:  # {"data": ..., "grad": ...}; "grad" may be {"ref": "data"}
        parts: dict = {}
        for k, s in spec["param"].items():
            parts[k] = build(s, {**env, **parts})
        return Lazy("param", parts)
    if "obj" in spec:
        return Lazy("obj", {"what": spec["obj"]})
    raise ValueError(f"unknown spec {spec!r}")


def clean(x):
    """Phase 1 value -> its clean counterpart (arrays become C-contiguous native float32)."""
    if isinstance(x, Lazy):
        return Lazy(x.kind, {k: clean(v) for k, v in x.parts.items()})
    if isinstance(x, tuple):
        return tuple(clean(v) for v in x)
    if isinstance(x, dict):
        return {k: clean(v) for k, v in x.items()}
    if isinstance(x, list) and any(isinstance(v, (Lazy, np.ndarray)) for v in x):
        return [clean(v) for v in x]
    return clean_copy(x)


def materialize(x):
    """Phase 2 (inside the call): Lazy -> Tensor / parameter / object."""
    import latentforge as lf

    if isinstance(x, Lazy):
        if x.kind == "tensor":
            return lf.Tensor(materialize(x.parts["x"]), requires_grad=x.parts["rg"])
        if x.kind == "param":
            return P(materialize(x.parts.get("data")), materialize(x.parts.get("grad")))
        what = x.parts["what"]
        if what == "object":
            return object()
        if what.startswith("linear:"):  # "linear:in,out" (an nn.Linear, for tied_to)
            i, o = (int(v) for v in what[len("linear:"):].split(","))
            return lf.nn.Linear(i, o, random_state=0)
        if what == "sigmoid":
            return lf.nn.Sigmoid()
        raise ValueError(f"unknown object {what!r}")
    if isinstance(x, list):
        return [materialize(v) for v in x]
    if isinstance(x, tuple):
        return tuple(materialize(v) for v in x)
    if isinstance(x, dict):
        return {k: materialize(v) for k, v in x.items()}
    return x


# ---------------------------------------------------------------------------- entry points


def kw(a: dict, *names: str) -> dict:
    return {n: a[n] for n in names if n in a}


def _tensor(x, rg: bool = False):
    import latentforge as lf

    if isinstance(x, lf.Tensor):
        if rg and not x.requires_grad:
            x.requires_grad = True  # a leaf made for this case: it may require grad
        return x
    return lf.Tensor(x, requires_grad=rg)


def _with_grad(a: dict, inputs: tuple, forward):
    """``forward`` on ``a``; when the case has a ``grad`` argument, also backward(grad) and
    the input gradients (the backward passes see the same odd inputs)."""
    if "grad" not in a:
        return forward(a)
    b = dict(a)
    for name in inputs:
        if name in b and b[name] is not None:
            b[name] = _tensor(b[name], rg=True)
    out = forward(b)
    out.backward(a["grad"])
    return (out, *[b[n].grad for n in inputs if n in b and b[n] is not None])


def _functional():
    import latentforge as lf
    from latentforge import functional as F

    T = lf.Tensor
    un = {n: (lambda f: lambda a: _with_grad(a, ("x",), lambda b: f(b["x"])))(getattr(F, n))
          for n in ("sigmoid", "tanh", "relu")}
    e = {f"F.{n}": f for n, f in un.items()}
    e["F.softmax"] = lambda a: _with_grad(a, ("x",), lambda b: F.softmax(b["x"], **kw(b, "axis")))
    e["F.log_softmax"] = lambda a: _with_grad(
        a, ("x",), lambda b: F.log_softmax(b["x"], **kw(b, "axis")))
    e["F.matmul"] = lambda a: _with_grad(a, ("a", "b"), lambda b: F.matmul(b["a"], b["b"]))
    e["F.linear"] = lambda a: _with_grad(a, ("x", "W", "b"), lambda b: F.linear(
        b["x"], b["W"], b.get("b"), **kw(b, "activation", "trans_w")))
    e["F.ksparse"] = lambda a: _with_grad(a, ("x",), lambda b: F.ksparse(b["x"], b["k"]))
    e["F.topk_mask"] = lambda a: F.topk_mask(a["x"], a["k"])
    e["F.batch_norm"] = lambda a: _with_grad(a, ("x", "gamma", "beta"), lambda b: F.batch_norm(
        b["x"], b.get("gamma"), b.get("beta"), **kw(b, "eps", "mean", "var")))
    # Tensor construction and methods.
    e["Tensor"] = lambda a: T(a["data"], **kw(a, "requires_grad"))
    binops = {"add": "__add__", "sub": "__sub__", "mul": "__mul__", "truediv": "__truediv__",
              "matmul": "__matmul__", "radd": "__radd__", "rmatmul": "__rmatmul__"}
    for n, dunder in binops.items():
        e[f"Tensor.{n}"] = (lambda d: lambda a: _with_grad(
            a, ("self", "other"), lambda b: getattr(_tensor(b["self"]), d)(b["other"])))(dunder)
    e["Tensor.pow"] = lambda a: _with_grad(a, ("self",), lambda b: _tensor(b["self"])
                                           ** b["exponent"])
    e["Tensor.getitem"] = lambda a: _with_grad(a, ("self",), lambda b: _tensor(b["self"])[
        b["key"]])
    for n in ("sum", "mean"):
        e[f"Tensor.{n}"] = _reduction(n)
    e["Tensor.reshape"] = lambda a: _with_grad(a, ("self",), lambda b: _tensor(b["self"])
                                               .reshape(b["shape"]))
    e["Tensor.transpose"] = lambda a: _with_grad(a, ("self",), lambda b: _tensor(b["self"])
                                                 .transpose(b["axes"]))
    e["Tensor.clip"] = lambda a: _with_grad(a, ("self",), lambda b: _tensor(b["self"]).clip(
        b["lo"], b["hi"]))
    e["Tensor.softmax"] = lambda a: _tensor(a["self"]).softmax(**kw(a, "axis"))
    e["Tensor.backward"] = _tensor_backward
    return e


def _reduction(name: str):
    def run(a):
        return _with_grad(a, ("self",), lambda b: getattr(_tensor(b["self"]), name)(
            **kw(b, "axis", "keepdims")))
    return run


def _loss(f, first: str):
    def run(a):
        return _with_grad(a, (first,), lambda b: f(**{k: v for k, v in b.items()
                                                       if k != "grad"}))
    return run


def _tensor_backward(a):
    t = _tensor(a["self"], rg=True)
    y = t * 2.0
    y.backward(a.get("grad"), **kw(a, "retain_graph"))
    return t.grad


def _nn():
    import latentforge as lf

    nn = lf.nn

    def layer(make):
        def run(a):
            m = make(a)
            if "eval" in a:
                m.eval()
            if "x" not in a:
                return m
            return _with_grad(a, ("x",), lambda b: m(b["x"])), m
        return run

    e = {
        "nn.Linear": layer(lambda a: nn.Linear(**kw(a, "in_features", "out_features", "bias",
                                                    "activation", "tied_to", "random_state"))),
        "nn.Dropout": layer(lambda a: nn.Dropout(**kw(a, "p", "random_state"))),
        "nn.BatchNorm1d": layer(lambda a: nn.BatchNorm1d(**kw(a, "num_features", "eps",
                                                              "momentum", "affine"))),
        "nn.Softmax": layer(lambda a: nn.Softmax(**kw(a, "axis"))),
        "nn.Sequential": layer(lambda a: nn.Sequential(
            *(a["modules"] if isinstance(a["modules"], list) else [a["modules"]]))),
    }

    def load(a):
        m = nn.Linear(a.get("in_features", 3), a.get("out_features", 2), random_state=0)
        m.load_state_dict(a["state"], **kw(a, "strict"))
        return m

    e["nn.load_state_dict"] = load
    return e


def _losses():
    from latentforge import losses

    first = {"mse": "pred", "binary_cross_entropy": "probs",
             "binary_cross_entropy_with_logits": "logits", "softmax_cross_entropy": "logits",
             "kl_sparsity": "hidden_activations"}
    e = {}
    for name, x in first.items():
        e[f"losses.{name}"] = _loss(getattr(losses, name), x)
    for name in ("l1_penalty", "l2_penalty"):
        e[f"losses.{name}"] = (lambda f: lambda a: f(a["params"]))(getattr(losses, name))
    return e


def _optim():
    import latentforge as lf

    def run(cls):
        def go(a):
            params = a["params"]
            opt = cls(params, **{k: v for k, v in a.items() if k not in ("params", "steps")})
            for _ in range(a.get("steps", 2)):
                opt.step()
            return [p.data for p in params] if isinstance(params, list) else opt
        return go

    return {f"optim.{n}": run(getattr(lf.optim, n))
            for n in ("SGD", "Adam", "AdaGrad", "RMSProp", "AdaDelta")}


def _threads(a):
    import latentforge as lf

    lf.set_num_threads(a["n"])
    return lf.get_num_threads()


_FITTED: dict = {}


def _base_data():
    X = _values((N_FIT, D_FIT), 12345, "unit").astype(np.float32)
    return X, (np.arange(N_FIT) % 2).astype(np.int64)


def _model(case: dict, a: dict, params: dict):
    import latentforge as lf

    m = case["model"]
    cls = getattr(lf.models, m["cls"])
    if m.get("fitted"):
        key = (m["cls"], repr(sorted(m["base"].items())))
        if key not in _FITTED:
            X0, y0 = _base_data()
            est = cls(**m["base"])
            _FITTED[key] = est.fit(X0, y0) if m.get("supervised") else est.fit(X0)
        est = copy.deepcopy(_FITTED[key])
    else:
        est = cls(**params)
    return getattr(est, m["method"])(**a)


ENTRIES: dict = {}


def _register() -> None:
    import latentforge as lf

    ENTRIES["ops.gemm"] = lambda a: lf.ops.gemm(
        a["A"], a["B"], **kw(a, "C", "trans_a", "trans_b", "alpha", "beta"))
    ENTRIES["ops.linear"] = lambda a: lf.ops.linear(
        a["X"], a["W"], **kw(a, "b", "activation", "trans_w"))
    ENTRIES.update(_functional())
    ENTRIES.update(_nn())
    ENTRIES.update(_losses())
    ENTRIES.update(_optim())
    ENTRIES["set_num_threads"] = _threads
    # The harness's own checks (test_fuzz.py::test_harness): a crash, a hang, a wrong result.
    ENTRIES["_selftest.crash"] = lambda a: os.kill(os.getpid(), 11)
    ENTRIES["_selftest.hang"] = lambda a: time.sleep(3600)
    ENTRIES["_selftest.layout"] = lambda a: np.asarray(a["x"]).ravel(order="K")[1:2] * 1


# ---------------------------------------------------------------------------- running


def _where(tb) -> str:
    """The innermost frame inside latentforge (``module.py:line in func``)."""
    where = ""
    for fs in traceback.extract_tb(tb):
        if f"{os.sep}latentforge{os.sep}" in fs.filename:
            where = f"{os.path.basename(fs.filename)}:{fs.lineno} in {fs.name}"
    return where


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _peak_reset() -> int:
    """Reset the peak resident size (Linux: VmHWM, through clear_refs) and return the current
    resident size in KiB, the baseline of this call's growth."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    now = _status_kb("VmRSS")
    return now if now is not None else _peak_kb()


def _peak_kb() -> int:
    """The peak resident size since the last reset (elsewhere: since the process started)."""
    hwm = _status_kb("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _call(case: dict, raw: dict, params: dict) -> dict:
    import latentforge as lf

    threads = lf._C.get_num_threads()
    rss0 = _peak_reset()
    t0 = time.perf_counter()
    out: dict = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            a = materialize(raw)
            if case["entry"] == "model":
                value = _model(case, a, materialize(params))
            else:
                value = ENTRIES[case["entry"]](a)
            out.update(status="ok", value=value)
        except BaseException as exc:  # noqa: BLE001 - everything is reported to the parent
            if case.get("trace"):
                traceback.print_exc()
            out.update(status="raised", exc_type=type(exc).__name__,
                       exc_mro=[c.__name__ for c in type(exc).__mro__], msg=str(exc)[:3000],
                       where=_where(exc.__traceback__))
        finally:
            lf._C.set_num_threads(threads)
    out["seconds"] = time.perf_counter() - t0
    out["rss_grow_mb"] = (_peak_kb() - rss0) / 1024
    out["warnings"] = sorted({w.category.__name__ for w in caught})
    return out


def _find(raw: dict, name):
    """The built argument ``name``, also inside a packed optimizer parameter."""
    if name in raw:
        return raw[name]
    for v in raw.values():
        for item in v if isinstance(v, list) else [v]:
            if isinstance(item, Lazy) and item.kind == "param" and name in item.parts:
                return item.parts[name]
    return None


def _plain(x) -> bool:
    """Whether ``x`` is an array no check could tell from a clean one: native float32,
    C-contiguous, aligned and writable (a 1x1 "transposed" matrix, say)."""
    if isinstance(x, Lazy):
        x = x.parts.get("x", x.parts.get("data"))
    return (isinstance(x, np.ndarray) and x.dtype == np.float32 and x.dtype.isnative
            and x.flags.c_contiguous and x.flags.aligned and x.flags.writeable)


def run_case(case: dict) -> dict:
    try:
        def is_ref(s) -> bool:
            return isinstance(s, dict) and ("ref" in s or "view" in s)

        raw = {k: None if is_ref(s) else build(s, {}) for k, s in case.get("args", {}).items()}
        env = dict(raw)
        for k, s in case.get("args", {}).items():  # references to other arguments
            if is_ref(s):
                raw[k] = env[k] = build(s, env)
        params = {k: build(s, env) for k, s in case.get("model", {}).get("params", {}).items()}
    except Exception:
        return {"status": "recipe_error", "msg": traceback.format_exc()}
    # The clean copies are taken first: the call may write into its arguments (C, .data).
    clean_args = (clean(raw), clean(params)) if case.get("compare") else None
    res = _call(case, raw, params)
    res["param_plain"] = _plain(_find(raw, case.get("param")))
    value = res.pop("value", None)
    if res["status"] == "ok":
        res["summary"] = summary(value)
        res["finite"] = all_finite(value)
    if clean_args is not None:
        ref = _call(case, *clean_args)
        ref_value = ref.pop("value", None)
        res["clean"] = {k: ref.get(k) for k in ("status", "exc_type", "msg")}
        if res["status"] == "ok" and ref["status"] == "ok":
            res["cmp"] = compare(value, ref_value, loose=case.get("loose", False))
    return res


def _read_exact(f, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = f.read(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def main() -> None:
    proto = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints (Python or C) go to stderr, never into the protocol
    sys.stdout = sys.stderr
    import latentforge  # noqa: F401 - loaded before the memory cap

    _register()
    limit = int(os.environ.get("LF_FUZZ_AS_MB", "4096")) << 20
    if limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    def send(obj) -> None:
        data = pickle.dumps(obj, protocol=4)
        proto.write(struct.pack("<Q", len(data)) + data)
        proto.flush()

    send({"ready": os.getpid()})
    stdin = sys.stdin.buffer
    while True:
        head = _read_exact(stdin, 8)
        if head is None:
            return
        body = _read_exact(stdin, struct.unpack("<Q", head)[0])
        if body is None:
            return
        try:
            result = run_case(pickle.loads(body))
        except Exception:
            result = {"status": "worker_error", "msg": traceback.format_exc()}
        send(result)


def reproduce(text: str) -> None:
    """``python tests/fuzz/_worker.py "CASE"``: run one case (as the failure report prints
    it) in this process, with the traceback of the call."""
    import math

    import latentforge  # noqa: F401

    _register()
    case = eval(text, {"nan": math.nan, "inf": math.inf})  # noqa: S307 - our own report
    res = run_case(dict(case, trace=True))
    for k, v in res.items():
        print(f"{k}: {v}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        reproduce(sys.argv[1])
    else:
        main()
