"""Shared scikit-learn plumbing for the estimators."""

from __future__ import annotations

import copy
import functools
import inspect
import numbers
import os
import sys
import warnings
from typing import Any, Callable

import numpy as np

from .. import _device


class NotFittedError(ValueError, AttributeError):
    """An estimator method that needs a fitted model was called before ``fit``.

    A ValueError and an AttributeError, as scikit-learn's ``NotFittedError`` (so ``hasattr`` on
    a fitted-only property is False). When scikit-learn is already imported in the process,
    the error raised is also an instance of ``sklearn.exceptions.NotFittedError`` (see
    :func:`_sklearn_compatible`)."""


class DataConversionWarning(UserWarning):
    """Input converted to the form the estimator needs (as scikit-learn's warning of that name,
    e.g. a column-vector ``y`` of shape (n, 1) ravelled to (n,)). When scikit-learn is already
    imported, the warning issued is also scikit-learn's (see :func:`_sklearn_compatible`)."""


#: Our exception / warning classes that have a twin of the same name in sklearn.exceptions.
_SKLEARN_TWINS = {"NotFittedError": NotFittedError,
                  "DataConversionWarning": DataConversionWarning}


@functools.cache
def _sklearn_twin(name: str) -> type:
    """``Sklearn<name>``: a subclass of our class ``name`` and of ``sklearn.exceptions.<name>``
    (imports scikit-learn)."""
    import sklearn.exceptions

    ours = _SKLEARN_TWINS[name]
    return type(f"Sklearn{name}", (ours, getattr(sklearn.exceptions, name)),
                {"__module__": __name__, "__doc__": ours.__doc__})


def _sklearn_compatible(cls: type) -> type:
    """The class to raise or warn with instead of ``cls`` (:class:`NotFittedError`,
    :class:`DataConversionWarning`): when scikit-learn is loaded, ``cls``'s subclass that is
    also scikit-learn's class of that name, so that ``except sklearn.exceptions.NotFittedError``,
    scikit-learn's warning filters and its estimator checks see it. scikit-learn is never
    imported for this: where it is not loaded, no code can expect its classes."""
    if "sklearn.exceptions" in sys.modules:
        return _sklearn_twin(cls.__name__)
    return cls


def __getattr__(name: str):
    # Unpickling a SklearnNotFittedError (e.g. sent back by a joblib worker) finds its class here.
    if name.startswith("Sklearn") and name[len("Sklearn"):] in _SKLEARN_TWINS:
        return _sklearn_twin(name[len("Sklearn"):])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class ComplexDataError(TypeError, ValueError):
    """Complex input: a TypeError (the dtype is wrong) that is also the ValueError
    scikit-learn raises for it, so code written for either catches it."""


class UnavailableMethodError(AttributeError, ValueError):
    """A method that the estimator's parameters do not define (e.g. the pseudo-likelihood of
    an RBM with Gaussian visible units): raised on attribute access, so ``hasattr`` is False
    (scikit-learn's ``available_if`` convention); also a ValueError, as a refused call is."""


def _restore_on_interrupt(method: Callable) -> Callable:
    """Wrap a fitting method: on ``KeyboardInterrupt`` the estimator's state (every attribute
    but its parameters, which fitting does not change) is put back as it was when the method
    was called, then the interrupt propagates. The state is deep-copied first only when
    there is one (a fitted estimator), so a first fit pays nothing."""

    @functools.wraps(method)
    def wrapper(self, *args: Any, **kwargs: Any):
        params = set(self.get_params(deep=False))
        state = {k: v for k, v in vars(self).items() if k not in params}
        saved = copy.deepcopy(state) if state else {}
        try:
            return method(self, *args, **kwargs)
        except KeyboardInterrupt:
            for k in [k for k in vars(self) if k not in params]:
                delattr(self, k)
            vars(self).update(saved)
            raise

    wrapper._restores_on_interrupt = True
    return wrapper


def keeps_progress_on_interrupt(method: Callable) -> Callable:
    """Mark a fitting method that :class:`ParamsMixin` must not wrap with
    :func:`_restore_on_interrupt`: the method itself leaves the estimator usable when
    interrupted, with the progress made so far (e.g. Word2Vec's long training, whose vectors
    are valid after every job), and documents it."""
    method._keeps_progress_on_interrupt = True
    return method


class ParamsMixin:
    """``get_params``/``set_params`` read from the ``__init__`` signature.

    Follows scikit-learn's convention: every ``__init__`` argument is stored, unchanged, as an
    attribute of the same name (so ``__init__`` only stores and ``fit`` validates).

    Interrupts: every ``fit`` and ``fit_transform`` a subclass defines is wrapped
    (:func:`_restore_on_interrupt`) so that Ctrl-C (``KeyboardInterrupt``) leaves the estimator
    exactly as it was before the call -- unfitted (no fitted attribute) if it was, with its
    previous fit otherwise -- and never half-fitted. ``partial_fit`` is not wrapped: it is one
    minibatch step, called in a loop, and an interrupt leaves the state of the step before or
    after it (copying the model at every call would cost more than the step).
    """

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        for name in ("fit", "fit_transform"):
            method = cls.__dict__.get(name)
            if (callable(method) and not getattr(method, "_restores_on_interrupt", False)
                    and not getattr(method, "_keeps_progress_on_interrupt", False)):
                setattr(cls, name, _restore_on_interrupt(method))

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        params = inspect.signature(type(self).__init__).parameters.values()
        names = [p.name for p in params if p.name != "self"
                 and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        return {name: getattr(self, name) for name in names}

    def set_params(self, **params: Any):
        valid = self.get_params()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}")
            setattr(self, name, value)
        return self

    def save(self, path) -> None:
        """Save this estimator -- class, parameters and fitted state -- to the file ``path``
        (str or path-like), atomically and with checksums; ``latentforge.load(path)`` returns
        an equivalent estimator. The format and its guarantees: :mod:`latentforge.persist`."""
        from ..persist import save

        save(self, path)

    #: scikit-learn's estimator type: "classifier", "transformer" or None (set by subclasses).
    _estimator_kind: str | None = None
    #: Input dtypes that ``transform`` returns unchanged (float32, the compute type of the
    #: kernels, by default: every other input comes out as float32).
    _preserves_dtype: tuple[str, ...] = ("float32",)

    def __sklearn_tags__(self):
        """Estimator tags in scikit-learn's protocol (>= 1.6), which ``cross_val_score``,
        ``GridSearchCV``, ``Pipeline`` and ``clone`` read. scikit-learn is imported only here,
        when it asks: it is not a dependency of latentforge."""
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags, TransformerTags

        kind = self._estimator_kind
        return Tags(
            estimator_type=kind,
            target_tags=TargetTags(required=kind == "classifier"),
            transformer_tags=(TransformerTags(preserves_dtype=list(self._preserves_dtype))
                              if hasattr(self, "transform") else None),
            classifier_tags=ClassifierTags() if kind == "classifier" else None,
            input_tags=InputTags(allow_nan=False),
        )

    def __repr__(self) -> str:
        """``Name(param=value, ...)`` with the parameters that differ from their defaults
        (every parameter passed through ``**kwargs``, which has no default, is shown)."""
        sig = inspect.signature(type(self).__init__).parameters
        shown = []
        for name, value in self.get_params(deep=False).items():
            default = sig[name].default if name in sig else inspect.Parameter.empty
            try:
                same = bool(value is default or value == default)
            except Exception:  # arrays and other values without a plain ==
                same = False
            if not same:
                shown.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"


class TransformMixin:
    """``fit_transform``, as scikit-learn's ``TransformerMixin``: ``fit(X)``, then
    ``transform(X)``."""

    def fit_transform(self, X, y=None) -> np.ndarray:
        """Fit on ``X`` (``y`` is ignored) and return ``transform(X)``."""
        return self.fit(X, y).transform(X)


# ---------------------------------------------------------------------- input validation
#
# Every estimator validates its inputs here, the way scikit-learn's ``check_array`` /
# ``check_X_y`` do: ``X`` is a 2-D numeric array with at least one row and one feature and only
# finite values; ``y`` is a 1-D array of labels, one per row of ``X``, of one type (all strings
# or all numbers), without NaN. The messages name the argument.

def _as_ndarray(x: Any, name: str) -> np.ndarray:
    if x is None:
        raise TypeError(f"{name} must be an array-like, got None")
    if type(x).__module__.startswith("scipy.sparse"):
        raise TypeError(f"{name} is a scipy sparse {type(x).__name__}: sparse input is not "
                        f"supported; pass a dense array, e.g. {name}.toarray()")
    if isinstance(x, np.ndarray):
        return x
    try:
        return np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{name} cannot be converted to an array: {exc}") from None


def _object_to_float(x: np.ndarray, name: str) -> np.ndarray:
    """An object array of numbers as float64, converted by numpy as scikit-learn does (so a
    numeric string such as "1.5" is read as a number); TypeError naming ``name`` and the
    element numpy could not convert otherwise."""
    try:
        return x.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must contain numbers only: {exc}") from None


def check_array(X: Any, name: str = "X", *, integer: bool = False,
                dtype: type | None = np.float32, min_samples: int = 1,
                model: Any = None, n_features: int | None = None,
                device_ok: bool = False) -> np.ndarray:
    """Validate a 2-D data matrix, as scikit-learn's ``check_array``; returns the array.

    ``X`` must be 2-D (n_samples, n_features) with at least ``min_samples`` rows, at least one
    column, a real numeric dtype and only finite values. Floating dtypes are always accepted;
    integer and boolean ones only with ``integer=True`` (otherwise TypeError), which the
    estimators pass: like float64, integers are converted once to the float32 compute type.
    Object arrays of numbers are converted to float64 first. Complex input raises
    :class:`ComplexDataError` (a TypeError that is also a ValueError, as in scikit-learn).
    ``dtype=np.float32`` returns the float32 array the native kernels use (zero-copy when
    possible, see :func:`latentforge._backend.as_float32`), after checking that no value
    overflows float32; ``dtype=None`` returns the validated array as is.

    With ``model`` (a fitted estimator), ``X`` must have ``n_features`` columns (by default
    the model's ``n_features_in_``); this is checked before the values are scanned, so that a
    wrong-width input is refused without reading it.

    Raises TypeError (dtype) or ValueError (shape, rows, features, NaN/infinity), naming
    ``name`` in the message.

    A device array (CuPy, ``__cuda_array_interface__`` or DLPack) is checked on its device and
    returned there, as a CuPy array, when ``device_ok`` (the estimator runs on devices);
    otherwise it raises TypeError saying that the estimator runs on the host (never a silent
    copy).
    """
    from .._backend import as_float32

    if _device.on_device(X):
        if not device_ok:
            who = f"{type(model).__name__}" if model is not None else "this estimator"
            raise TypeError(f"{name} is a CUDA device array but {who} runs on the host only: "
                            f"pass host data ({name}.get() copies it back)")
        X = _device.as_cupy(X, name)
    else:
        X = _as_ndarray(X, name)
        if X.dtype.kind == "O":
            X = _object_to_float(X, name)
    xp = _device.array_module(X)
    kind = X.dtype.kind
    if kind not in "fiub":
        what = "a numeric (floating-point or integer)" if integer else "a floating-point"
        if kind == "c":
            raise ComplexDataError(f"{name} must be {what} array, got dtype {X.dtype} "
                                   "(Complex data not supported)")
        raise TypeError(f"{name} must be {what} array, got dtype {X.dtype}")
    if kind in "iub" and not integer:
        raise TypeError(f"{name} must be a floating-point array (float32 is used for compute), "
                        f"got dtype {X.dtype}; cast it, e.g. {name}.astype("
                        f"{'np' if xp is np else 'cupy'}.float32)")
    if X.ndim != 2:
        hint = (f". Reshape your data with {name}.reshape(-1, 1) if it has a single feature "
                f"or {name}.reshape(1, -1) if it is a single sample") if X.ndim == 1 else ""
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got {X.ndim}-D array "
                         f"of shape {X.shape}{hint}")
    n, d = X.shape
    if n == 0:
        raise ValueError(f"{name} has no rows: 0 sample(s) (shape={X.shape}) while a minimum "
                         f"of {max(min_samples, 1)} is required.")
    if n < min_samples:
        raise ValueError(f"{name} has {n} sample{'s' if n > 1 else ''}; at least {min_samples} "
                         "are needed")
    if d == 0:
        raise ValueError(f"{name} has no features: 0 feature(s) (shape={X.shape}) while a "
                         "minimum of 1 is required.")
    if model is not None:
        check_n_features(model, X, name, n_features)
    if kind == "f":
        finite = xp.isfinite(X)
        if not bool(finite.all()):
            i, j = (int(v) for v in xp.argwhere(~finite)[0])
            raise ValueError(f"{name} contains NaN or infinity (first at row {i}, column {j})")
    if dtype is None:
        return X
    if np.dtype(dtype) != np.float32:
        raise ValueError(f"dtype must be None or np.float32, got {dtype!r}")
    if kind == "f" and X.dtype.itemsize > 4:
        big = float(xp.abs(X).max())
        if big > float(np.finfo(np.float32).max):
            raise ValueError(f"{name} has values beyond the float32 range (|x| up to {big:g}); "
                             "the model computes in float32: rescale the data")
    if xp is not np or kind in "iub":
        return xp.ascontiguousarray(X, dtype=np.float32)
    return as_float32(X, name, ndim=2)


def check_is_fitted(model: Any, attr: str) -> None:
    """:class:`NotFittedError` (an AttributeError and a ValueError) unless ``model`` has the
    fitted attribute ``attr``."""
    if not hasattr(model, attr):
        raise _sklearn_compatible(NotFittedError)(
            f"this {type(model).__name__} is not fitted yet; call fit first")


def check_n_features(model: Any, X: np.ndarray, name: str = "X",
                     n_features: int | None = None) -> None:
    """ValueError unless ``X`` has ``n_features`` columns (by default the ``n_features_in_``
    ``model`` was fitted with), worded as scikit-learn's message."""
    want = model.n_features_in_ if n_features is None else n_features
    if X.shape[1] != want:
        raise ValueError(f"{name} has {X.shape[1]} features, but {type(model).__name__} is "
                         f"expecting {want} features as input")


def check_input(model: Any, X, name: str, fitted: bool, fitted_attr: str,
                device_ok: bool = False) -> np.ndarray:
    """:func:`check_array` to float32 for a model's ``fit`` (``fitted=False``) or, once
    ``model`` is fitted (it has ``fitted_attr``), its other methods: then ``X`` must also have
    ``n_features_in_`` columns. Raises :class:`NotFittedError` (an AttributeError) when
    ``fitted`` is asked of an unfitted model, ValueError/TypeError on bad input. Integer
    input is accepted (converted to float32)."""
    if fitted:
        check_is_fitted(model, fitted_attr)
    return check_array(X, name, integer=True, model=model if fitted else None,
                       device_ok=device_ok)


def _label_kind(v: Any) -> str:
    if isinstance(v, (str, bytes, np.str_, np.bytes_)):
        return "str"
    if isinstance(v, (numbers.Number, np.bool_)) and not isinstance(v, complex):
        return "number"
    return type(v).__name__


def _kind_of(y: np.ndarray) -> str:
    """"str" or "number": the type of the labels of a validated label array."""
    return "str" if y.dtype.kind in "US" else "number"


def check_labels(y: Any, n_samples: int, name: str = "y") -> np.ndarray:
    """Validate class labels, as scikit-learn's ``check_X_y`` does: ``y`` must be given, 1-D
    with ``n_samples`` entries, all strings or all (real) numbers -- not a mix -- and without
    NaN or infinity. Object arrays and lists are converted to a string or numeric array.
    Raises ValueError (None, shape, NaN) or TypeError (label types), naming ``name``."""
    if y is None:
        raise ValueError(f"{name} is required: this estimator requires y to be passed, but the "
                         f"target y is None ({n_samples} labels are needed, one per row of X)")
    if _device.on_device(y):
        # Class labels are metadata (classes_ is a host array, and may hold strings): device
        # labels are read on the host, n_samples integers. X never leaves its device.
        y = _device.to_device(y, "cpu", name=name)
    if isinstance(y, np.ndarray) and y.dtype.kind != "O":
        arr = y
    else:
        try:
            arr = np.asarray(y, dtype=object) if not isinstance(y, np.ndarray) else y
        except (ValueError, TypeError) as exc:
            raise TypeError(f"{name} cannot be converted to an array: {exc}") from None
    if arr.ndim != 1 or arr.shape[0] != n_samples:
        raise ValueError(f"{name} must be 1-D with {n_samples} labels (one per row of X), got "
                         f"shape {arr.shape}")
    if arr.dtype.kind == "O":
        kinds = set()
        for v in arr:
            k = _label_kind(v)
            if k == "number" and isinstance(v, numbers.Real) and not np.isfinite(float(v)):
                raise ValueError(f"{name} contains NaN or infinity: a label must be a class, "
                                 "not a missing value")
            kinds.add(k)
        if kinds - {"str", "number"}:
            bad = sorted(kinds - {"str", "number"})
            raise TypeError(f"{name} labels must be strings or numbers, got {', '.join(bad)}")
        if len(kinds) > 1:
            raise TypeError(f"{name} mixes string and numeric labels; use labels of one type "
                            "(e.g. y.astype(str))")
        arr = np.asarray(arr.tolist())
        if arr.ndim != 1:  # pragma: no cover - sequences were rejected above
            raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    kind = arr.dtype.kind
    if kind not in "biufUS":
        raise TypeError(f"{name} labels must be strings or real numbers, got dtype {arr.dtype}")
    if kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinity: a label must be a class, not a "
                         "missing value")
    return arr


def _caller_stacklevel() -> int:
    """``stacklevel`` for a ``warnings.warn`` in the function calling this one that points at
    the first caller outside the latentforge package (the user's line, whatever wrappers and
    helpers lie between)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def check_X_y(X: Any, y: Any, *, integer: bool = False, dtype: type | None = np.float32,
              min_samples: int = 1, device_ok: bool = False):
    """:func:`check_array` on ``X`` and :func:`check_labels` on the class labels ``y`` (one
    per row), for a classifier's ``fit``. As in scikit-learn, a column vector ``y`` of shape
    (n_samples, 1) is ravelled with a :class:`DataConversionWarning`, and float labels that are
    not all whole numbers raise ValueError ("Unknown label type: continuous"): those are
    regression targets, and every distinct value would otherwise become a class."""
    X = check_array(X, "X", integer=integer, dtype=dtype, min_samples=min_samples,
                    device_ok=device_ok)
    if y is not None and not isinstance(y, (str, bytes)):
        col = y if isinstance(y, np.ndarray) else None
        if col is None and hasattr(y, "__len__"):
            try:
                col = np.asarray(y, dtype=object)
            except (TypeError, ValueError):
                col = None
        if col is not None and col.ndim == 2 and col.shape == (X.shape[0], 1):
            warnings.warn("A column-vector y was passed when a 1d array was expected: y of "
                          f"shape {col.shape} is used as shape ({X.shape[0]},); use "
                          "y.ravel() to silence this warning",
                          _sklearn_compatible(DataConversionWarning),
                          stacklevel=_caller_stacklevel())
            y = col[:, 0]
    y = check_labels(y, X.shape[0])
    if y.dtype.kind == "f" and not np.array_equal(y, np.floor(y)):
        frac = y[y != np.floor(y)][0]
        raise ValueError(f"Unknown label type: continuous. y holds non-integer values (e.g. "
                         f"{float(frac)!r}): a classifier needs class labels, not regression "
                         "targets")
    return X, y


def check_labels_like(y: np.ndarray, classes: np.ndarray, name: str = "y") -> None:
    """TypeError when the validated labels ``y`` are not of the type of the fitted
    ``classes`` (strings against numbers): comparing them would count every label wrong."""
    if _kind_of(y) != _kind_of(classes):
        raise TypeError(f"{name} has {_kind_of(y)} labels but the model was fitted with "
                        f"{_kind_of(classes)} labels (classes_ = {classes[:5]!r}...)")


def progress_bar(verbose: Any, total: int, desc: str):
    """A tqdm bar over ``total`` steps when ``verbose`` and stderr is a terminal (None otherwise,
    or when tqdm is missing): the models then log lines instead."""
    import sys

    if not verbose or not sys.stderr.isatty():
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, leave=False)


def fit_stack(X, per_layer, make, rng, verbose: Any, label: str, describe: Callable[[Any], str]):
    """Greedy layer-wise training: layer ``i`` is ``make(seed_i, per_layer[i])`` (seed drawn
    from ``rng``), fitted on the previous layer's ``transform`` of X. Returns the fitted
    layers, bottom up. ``verbose`` prints one line per layer: ``label layer i/n: describe``."""
    import sys

    layers = []
    H = X
    for i, q in enumerate(per_layer):
        layer = make(int(rng.integers(0, 2**31)), q)
        if verbose:
            print(f"{label} layer {i + 1}/{len(per_layer)}: {describe(layer)}", file=sys.stderr,
                  flush=True)
        layer.fit(H)
        layers.append(layer)
        if i + 1 < len(per_layer):
            H = layer.transform(H)
    return layers


def transform_stack(layers, X):
    """X through every layer's ``transform``, bottom up."""
    H = X
    for layer in layers:
        H = layer.transform(H)
    return H


def minibatches(n: int, batch_size: int, min_rows: int = 1) -> list[slice]:
    """Slices cutting ``n`` (shuffled) rows into minibatches of ``batch_size`` rows; a last
    batch of fewer than ``min_rows`` rows is merged into the one before it (batch
    normalisation needs two rows to have a variance)."""
    cuts = list(range(0, n, batch_size)) + [n]
    if len(cuts) > 2 and cuts[-1] - cuts[-2] < min_rows:
        del cuts[-2]
    return [slice(a, b) for a, b in zip(cuts[:-1], cuts[1:])]


def minibatch_step(compute_loss: Callable[[], Any], optimizer: Any, epoch: int,
                   batch: int) -> float:
    """One optimisation step: loss, backward, update. Returns the loss value.

    Overflow in a diverging run is not reported as numpy warnings but as one clear
    ``FloatingPointError`` naming the epoch and batch (and the parameters are left untouched by
    that step).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        loss = compute_loss()
        value = float(loss.data)
        if np.isfinite(value):
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    if not np.isfinite(value):
        raise FloatingPointError(
            f"training diverged at epoch {epoch + 1}, batch {batch + 1} (loss {value}); "
            "lower learning_rate"
        )
    return value


# ---------------------------------------------------------------------- devices
#
# Estimators with a ``device`` parameter ("cpu", "cuda", "cuda:N", or None: where X lives)
# train where it says: data given on the other side is moved there once, on that request, at
# the start of ``fit``. The fitted model lives on that device (``device_``); its other methods
# take data where the model is and return arrays there (CuPy for a device model), and
# ``model.to(device)`` moves a fitted model.


def fit_device(model: Any, X: Any) -> tuple[str, int | None]:
    """Where ``model.fit`` runs: ``model.device``, or where ``X`` lives when it is None.
    Returns ``(kind, index)`` as :func:`latentforge._device.parse_device`, with ``"auto"``
    resolved. RuntimeError (naming why) when CUDA is asked for or given but unusable."""
    kind, index = _device.use_device(model.device, "device")
    if kind == "auto":
        if not _device.on_device(X):
            return "cpu", None
        _device.require_cuda(f"{type(model).__name__}.fit on a CUDA device array")
        return "cuda", None
    return kind, index


def check_same_device(model: Any, X: Any, name: str = "X") -> None:
    """TypeError unless ``X`` lives where the fitted ``model`` does (never a silent copy)."""
    where = getattr(model, "device_", "cpu")
    here = _device.device_of(X)
    if (where == "cpu") != (here == "cpu") or (where != "cpu" and here != where):
        raise TypeError(f"{name} is on {here} but this {type(model).__name__} lives on {where}: "
                        f"pass {name} where the model is, or move the model first with "
                        f"model.to({here.split(':')[0]!r})")
