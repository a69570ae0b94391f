"""Saving and loading estimators: ``model.save(path)`` and :func:`latentforge.load`.

>>> import numpy as np, latentforge as lf
>>> X = np.random.default_rng(0).random((50, 6)).astype(np.float32)
>>> pca = lf.models.PCA(2).fit(X)
>>> pca.save("pca.npz")                                 # doctest: +SKIP
>>> again = lf.load("pca.npz")                          # doctest: +SKIP
>>> np.array_equal(again.transform(X), pca.transform(X))  # doctest: +SKIP
True

Every estimator of :mod:`latentforge.models` is saved whole -- its class, its parameters and
its fitted state (arrays, networks, training history, random generators) -- and comes back
as an estimator of the same class whose methods give bit-identical results. Unfitted
estimators round-trip too. Nothing in a file is code: there is no pickle anywhere (arrays
are read with ``allow_pickle=False``), classes are named and looked up in a fixed list of
latentforge's own classes, and everything else is numbers, strings and arrays.

File format (``format_version`` 1)
----------------------------------
A saved model is **one standard numpy ``.npz`` file** (a zip archive written by
``np.savez``, members stored uncompressed) that ``np.load(path, allow_pickle=False)`` opens:

``__meta__``
    A 1-D ``uint8`` array: the UTF-8 (in fact ASCII) bytes of one JSON object, strict JSON
    (no NaN/Infinity literals), with the keys

    ``format``
        ``"latentforge.model"``.
    ``format_version``
        An integer, 1 for this layout (:data:`FORMAT_VERSION`).
    ``latentforge_version``
        The version of latentforge that wrote the file (information only).
    ``class``
        The estimator's class name, e.g. ``"PCA"`` or ``"MLPClassifier"``.
    ``id``
        The object number of the estimator itself (see ``__ref__`` below).
    ``params``
        ``get_params(deep=False)``: parameter name -> encoded value (below).
    ``attributes``
        Every other entry of the estimator's ``__dict__`` (the fitted state, private ones
        included): name -> encoded value.
    ``arrays``
        The names of the array members, in the order the payload checksum reads them.
    ``payload_sha256``
        SHA-256 (hex) over the array members, in the order of ``arrays``: for each, the bytes
        of ``name``, NUL, ``dtype.str`` (e.g. ``<f4``), NUL, the shape as comma-separated
        decimal integers, NUL, then the array's bytes in C order.

``a0``, ``a1``, ...
    The arrays (``.npy`` members). Only plain dtypes are stored: bool, integers, floats,
    complex, bytes (``S``) and unicode strings (``U``); never object arrays.

Encoded values. JSON ``null``, booleans, integers, strings and finite floats stand for
themselves and a JSON list for a Python list. Every other value is a JSON object with
exactly one of these tags (plus the listed fields)::

    {"__float__": "nan" | "inf" | "-inf"}          a non-finite Python float
    {"__tuple__": [v, ...]}                        a tuple
    {"__dict__": {"key": v, ...}}                  a dict with string keys (in order)
    {"__items__": [[k, v], ...]}                   any other dict (keys encoded too)
    {"__array__": "a3"}                            an ndarray: member a3
    {"__object_array__": "a3"}                     an object ndarray of str, stored as U
    {"__scalar__": "a3"}                           a numpy scalar: the 0-d member a3
    {"__dtype__": "<f4"}                           a numpy dtype
    {"__dtype_type__": "<f4"}                      a numpy scalar type (np.float32)
    {"__tensor__": "Parameter" | "Tensor", "id": n, "data": v, "requires_grad": b}
    {"__module__": "Linear", "id": n, "attributes": {name: v, ...}}
    {"__estimator__": "RBM", "id": n, "params": {...}, "attributes": {...}}
    {"__generator__": "PCG64", "id": n, "state": v}     np.random.Generator
    {"__random_state__": "MT19937", "id": n, "state": v}  np.random.RandomState
    {"__ref__": n}                                 the object numbered n, defined earlier

Objects that have an ``id`` are written in full once and referred to by ``__ref__``
afterwards, so shared objects stay shared (the tied weight of an autoencoder's encoder and
decoder is one ``Parameter`` after loading, as before saving); an ndarray met twice is one
member referenced twice. Estimators (``__estimator__``) are the classes of
:mod:`latentforge.models` (nested ones too: a DBN's RBMs, a DNN's classifier) and are
rebuilt as ``cls(**params)`` followed by their attributes; modules (``__module__``) are
the layers of :mod:`latentforge.nn` and the models' own modules, rebuilt with their
attributes (weights, Dropout seeds and offsets, BatchNorm running statistics, train/eval
mode). A random generator param (``random_state=np.random.default_rng(0)``) is saved with
the exact state of its bit generator at the time of saving (MT19937, PCG64, PCG64DXSM,
Philox or SFC64) and continues from it after loading; int and None seeds are plain JSON.
Gradients (``Parameter.grad``) and autograd history are not saved (a saved tensor is a
leaf). Anything else -- a function, an arbitrary object, an ndarray subclass, a CuPy array
-- makes ``save`` raise ``TypeError`` naming the attribute, before any file is touched.

Integrity. The zip archive's comment (the last bytes of the file) is
``LATENTFORGE-SHA256:`` followed by 64 lowercase hex digits: the SHA-256 of every byte of
the file before those digits. :func:`load` checks it first, so a truncated file, a byte
changed anywhere or an unrelated file is reported, never loaded as different weights; it
then checks ``payload_sha256`` against the arrays (tying the JSON to the arrays it names).

Versions. ``format_version`` is raised whenever a file of the new layout could be misread
by an older reader (a new tag, a changed key or meaning). :func:`load` reads every version
up to its own :data:`FORMAT_VERSION` and refuses newer files with a :class:`FormatError`
that says to upgrade latentforge. The attributes are those of the class in the version
that wrote the file: a later latentforge that changes a model's parameters or fitted
attributes converts older files or refuses them with a clear error.

Writing is atomic: the file is written under a temporary name in the destination directory
(``.<name>.<random>.tmp``), flushed and ``fsync``-ed, then renamed over ``path`` with
``os.replace`` (and the directory is ``fsync``-ed). An error or ``KeyboardInterrupt``
during the save leaves any previous file at ``path`` untouched and removes the temporary
file. ``path`` is used as given (no suffix is added; ``.npz`` is the natural one).

Pickle also works for every estimator (``pickle.dumps(model)``); unlike this format it
stores references to code and must only be loaded from trusted sources.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import io
import json
import math
import os
import pkgutil
import re
import secrets
import zipfile
from typing import Any

import numpy as np

from . import _C, nn
from .tensor import Tensor

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "FormatError", "load", "save"]

#: Value of the ``format`` key of the metadata.
FORMAT_NAME = "latentforge.model"
#: The format version this latentforge writes, and the newest it reads.
FORMAT_VERSION = 1

_META = "__meta__"
_TRAILER_PREFIX = b"LATENTFORGE-SHA256:"
_DIGITS = 64  # hex digits of a SHA-256
_TRAILER_LEN = len(_TRAILER_PREFIX) + _DIGITS
_ZIP_MAGIC = b"PK\x03\x04"
#: numpy bit generators whose state (``bit_generator.state``) is saved and restored.
_BIT_GENERATORS = ("MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64")
#: dtype kinds stored in arrays: bool, signed/unsigned int, float, complex, bytes, unicode.
_ARRAY_KINDS = "biufcSU"
_TAGS = frozenset((
    "__float__", "__tuple__", "__dict__", "__items__", "__array__", "__object_array__",
    "__scalar__", "__dtype__", "__dtype_type__", "__tensor__", "__module__", "__estimator__",
    "__generator__", "__random_state__", "__ref__",
))


class FormatError(ValueError):
    """``load`` cannot return the model saved at ``path``: the file is not a latentforge
    model file, it is truncated or damaged (checksum mismatch), its format version is newer
    than this latentforge reads, its metadata is malformed, or it holds another class than
    the one asked for. ``path`` is the file and ``reason`` says what is wrong."""

    def __init__(self, path: Any, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):
        return type(self), (self.path, self.reason)


class _Malformed(Exception):
    """Raised while decoding metadata that passed the checksums but does not decode."""


# ---------------------------------------------------------------------- known classes


def _classes_of(module) -> list[type]:
    return [v for v in vars(module).values()
            if isinstance(v, type) and v.__module__ == module.__name__]


def _unique(classes: list[type], what: str) -> dict[str, type]:
    out: dict[str, type] = {}
    for c in classes:
        if out.setdefault(c.__name__, c) is not c:  # pragma: no cover - a development error
            raise RuntimeError(f"two latentforge {what} classes are named {c.__name__}: the "
                               "save format names classes, so their names must be unique")
    return out


@functools.cache
def _registries() -> tuple[dict[str, type], dict[str, type]]:
    """``(estimators, modules)``: the classes a file may name, by name. Estimators are the
    classes with ``fit`` and ``get_params`` defined in the modules of
    :mod:`latentforge.models`; modules are the :class:`latentforge.nn.Module` subclasses
    defined there or in :mod:`latentforge.nn`."""
    from . import models

    estimators, modules = [], [c for c in _classes_of(nn) if issubclass(c, nn.Module)]
    for info in pkgutil.iter_modules(models.__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{models.__name__}.{info.name}")
        for c in _classes_of(mod):
            if issubclass(c, nn.Module):
                modules.append(c)
            elif callable(getattr(c, "fit", None)) and callable(getattr(c, "get_params", None)):
                estimators.append(c)
    return _unique(estimators, "estimator"), _unique(modules, "module")


# ---------------------------------------------------------------------- encoding


class _Encoder:
    """Turns an estimator's object graph into JSON values and named arrays (see the module
    docstring for the tags). ``where`` arguments are attribute paths for error messages."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self._estimators, self._modules = _registries()
        self._refs: dict[int, dict] = {}  # id(object) -> its encoding after the first time
        self._alive: list[Any] = []       # keeps encoded objects alive, so ids stay unique
        self._open: set[int] = set()      # containers being encoded (reference cycles)
        self._next_id = 0

    def _remember(self, obj: Any, ref: dict | None = None) -> int:
        ident = self._next_id
        self._next_id += 1
        self._refs[id(obj)] = ref if ref is not None else {"__ref__": ident}
        self._alive.append(obj)
        return ident

    @staticmethod
    def _unsupported(where: str, value: Any, why: str = "") -> TypeError:
        kind = f"{type(value).__module__}.{type(value).__qualname__}"
        return TypeError(
            f"cannot save {where}: a {kind} {why}is not something the latentforge format stores "
            "(it stores numbers, strings, lists, tuples, dicts, numpy arrays and scalars, "
            "numpy Generators, latentforge tensors, layers and estimators -- never code)")

    def encode(self, value: Any, where: str) -> Any:
        if value is None or type(value) in (bool, int, str):
            return value
        if type(value) is float:
            return value if math.isfinite(value) else {"__float__": repr(value)}
        if id(value) in self._refs:
            return self._refs[id(value)]
        if isinstance(value, np.generic):
            if value.dtype.kind not in _ARRAY_KINDS:
                raise self._unsupported(where, value, f"(dtype {value.dtype}) ")
            return {"__scalar__": self._store(np.asarray(value))}
        if isinstance(value, np.ndarray):
            return self._array(value, where)
        if isinstance(value, np.dtype) or (isinstance(value, type)
                                           and issubclass(value, np.generic)):
            dt = np.dtype(value)
            if dt.kind not in _ARRAY_KINDS:
                raise self._unsupported(where, value, f"(dtype {dt}) ")
            return {"__dtype__" if isinstance(value, np.dtype) else "__dtype_type__": dt.str}
        if isinstance(value, Tensor):
            return self._tensor(value, where)
        if isinstance(value, nn.Module):
            name = type(value).__name__
            if self._modules.get(name) is not type(value):
                raise self._unsupported(where, value, "(not a latentforge layer) ")
            ident = self._remember(value)
            return {"__module__": name, "id": ident,
                    "attributes": self._attributes(vars(value), where)}
        if self._estimators.get(type(value).__name__) is type(value):
            return self._estimator(value, where)
        if isinstance(value, np.random.Generator):
            bg = value.bit_generator
            name = type(bg).__name__
            if name not in _BIT_GENERATORS or type(bg) is not getattr(np.random, name):
                raise self._unsupported(where, bg, "(an unknown bit generator) ")
            ident = self._remember(value)
            return {"__generator__": name, "id": ident,
                    "state": self.encode(bg.state, f"{where}.bit_generator.state")}
        if isinstance(value, np.random.RandomState):
            state = value.get_state(legacy=False)
            name = state["bit_generator"]
            if name not in _BIT_GENERATORS:
                raise self._unsupported(where, value, f"(bit generator {name}) ")
            ident = self._remember(value)
            return {"__random_state__": name, "id": ident,
                    "state": self.encode(state, f"{where}.get_state()")}
        if type(value) in (list, tuple, dict):
            return self._container(value, where)
        raise self._unsupported(where, value)

    def _container(self, value: list | tuple | dict, where: str) -> Any:
        if id(value) in self._open:
            raise ValueError(f"cannot save {where}: it contains itself (a reference cycle)")
        self._open.add(id(value))
        try:
            if type(value) is list:
                return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
            if type(value) is tuple:
                return {"__tuple__": [self.encode(v, f"{where}[{i}]")
                                      for i, v in enumerate(value)]}
            if all(type(k) is str for k in value):
                return {"__dict__": {k: self.encode(v, f"{where}[{k!r}]")
                                     for k, v in value.items()}}
            return {"__items__": [[self.encode(k, f"{where} (a key)"),
                                   self.encode(v, f"{where}[{k!r}]")]
                                  for k, v in value.items()]}
        finally:
            self._open.discard(id(value))

    def _attributes(self, attrs: dict[str, Any], where: str) -> dict[str, Any]:
        return {k: self.encode(v, f"{where}.{k}") for k, v in attrs.items()}

    def _store(self, arr: np.ndarray) -> str:
        name = f"a{len(self.arrays)}"
        self.arrays[name] = arr
        return name

    def _array(self, arr: np.ndarray, where: str) -> dict:
        if type(arr) is not np.ndarray:
            raise self._unsupported(where, arr, "(an ndarray subclass) ")
        tag = "__array__"
        if arr.dtype.hasobject:
            if arr.dtype != object or not all(type(x) is str for x in arr.flat):
                raise self._unsupported(where, arr, "(an object array of other than str) ")
            stored, tag = arr.astype(str), "__object_array__"
        elif arr.dtype.kind not in _ARRAY_KINDS:
            raise self._unsupported(where, arr, f"(dtype {arr.dtype}) ")
        else:
            stored = arr
        ref = {tag: self._store(stored)}
        self._refs[id(arr)] = ref
        self._alive.append(arr)
        return ref

    def _tensor(self, t: Tensor, where: str) -> dict:
        if type(t) not in (Tensor, nn.Parameter):
            raise self._unsupported(where, t)
        if type(t.data) is not np.ndarray:
            raise self._unsupported(f"{where}.data", t.data, "(not a host numpy array) ")
        ident = self._remember(t)
        return {"__tensor__": type(t).__name__, "id": ident,
                "data": self.encode(t.data, f"{where}.data"),
                "requires_grad": bool(t.requires_grad)}

    def _estimator(self, est: Any, where: str) -> dict:
        if id(est) in self._open:
            raise ValueError(f"cannot save {where}: it contains itself (a reference cycle)")
        self._open.add(id(est))
        try:
            params = est.get_params(deep=False)
            encoded = {k: self.encode(v, f"{where}.{k}") for k, v in params.items()}
        finally:
            self._open.discard(id(est))
        ident = self._remember(est)
        rest = {k: v for k, v in vars(est).items() if k not in params}
        return {"__estimator__": type(est).__name__, "id": ident, "params": encoded,
                "attributes": self._attributes(rest, where)}


# ---------------------------------------------------------------------- decoding


class _Decoder:
    """The inverse of :class:`_Encoder`, from the JSON values and the loaded arrays."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays
        self._estimators, self._modules = _registries()
        self._objects: dict[int, Any] = {}
        self._array_objects: dict[tuple[str, str], np.ndarray] = {}

    def _register(self, ident: Any, obj: Any) -> None:
        if type(ident) is not int or ident in self._objects:
            raise _Malformed(f"bad or repeated object id {ident!r}")
        self._objects[ident] = obj

    @staticmethod
    def _mapping(v: Any, what: str) -> dict:
        if type(v) is not dict or not all(type(k) is str for k in v):
            raise _Malformed(f"{what} must be a JSON object")
        return v

    def _member(self, name: Any) -> np.ndarray:
        if type(name) is not str or name not in self.arrays:
            raise _Malformed(f"reference to a missing array {name!r}")
        return self.arrays[name]

    def decode(self, v: Any) -> Any:
        if v is None or type(v) in (bool, int, float, str):
            return v
        if type(v) is list:
            return [self.decode(x) for x in v]
        if type(v) is not dict:  # pragma: no cover - json.loads returns nothing else
            raise _Malformed(f"unexpected value {v!r}")
        tags = [k for k in v if k in _TAGS]
        if len(tags) != 1:
            raise _Malformed(f"an object must have exactly one tag, got keys {sorted(v)}")
        tag = tags[0]
        body = v[tag]
        if tag == "__ref__":
            if type(body) is not int or body not in self._objects:
                raise _Malformed(f"reference to an undefined object {body!r}")
            return self._objects[body]
        if tag == "__float__":
            if body not in ("nan", "inf", "-inf"):
                raise _Malformed(f"bad non-finite float {body!r}")
            return float(body)
        if tag == "__tuple__":
            if type(body) is not list:
                raise _Malformed("__tuple__ must hold a list")
            return tuple(self.decode(x) for x in body)
        if tag == "__dict__":
            return {k: self.decode(x) for k, x in self._mapping(body, "__dict__").items()}
        if tag == "__items__":
            if type(body) is not list or not all(type(p) is list and len(p) == 2 for p in body):
                raise _Malformed("__items__ must hold [key, value] pairs")
            return {self.decode(k): self.decode(x) for k, x in body}
        if tag in ("__array__", "__object_array__"):
            key = (tag, body)
            if key not in self._array_objects:
                arr = self._member(body)
                self._array_objects[key] = arr.astype(object) if tag != "__array__" else arr
            return self._array_objects[key]
        if tag == "__scalar__":
            arr = self._member(body)
            if arr.ndim != 0:
                raise _Malformed(f"scalar {body!r} is not a 0-d array")
            return arr[()]
        if tag in ("__dtype__", "__dtype_type__"):
            if type(body) is not str:
                raise _Malformed(f"bad dtype {body!r}")
            dt = np.dtype(body)
            if dt.kind not in _ARRAY_KINDS:
                raise _Malformed(f"unsupported dtype {body!r}")
            return dt if tag == "__dtype__" else dt.type
        if tag == "__tensor__":
            cls = {"Tensor": Tensor, "Parameter": nn.Parameter}.get(body)
            data = self.decode(v.get("data"))
            if cls is None or type(data) is not np.ndarray:
                raise _Malformed(f"bad tensor {body!r}")
            t = cls._from_op(data, requires_grad=bool(v.get("requires_grad")))
            self._register(v.get("id"), t)
            return t
        if tag == "__module__":
            cls = self._modules.get(body)
            if cls is None:
                raise _Malformed(f"{body!r} is not a latentforge layer of this version")
            mod = cls.__new__(cls)
            self._register(v.get("id"), mod)
            mod.__dict__.update(self._attributes(v.get("attributes")))
            return mod
        if tag == "__estimator__":
            return self.estimator(v)
        if tag == "__generator__":
            bg = self._bit_generator(body)
            bg.state = self.decode(v.get("state"))
            gen = np.random.Generator(bg)
            self._register(v.get("id"), gen)
            return gen
        # "__random_state__"
        rs = np.random.RandomState(self._bit_generator(body))
        rs.set_state(self.decode(v.get("state")))
        self._register(v.get("id"), rs)
        return rs

    @staticmethod
    def _bit_generator(name: Any):
        if name not in _BIT_GENERATORS:
            raise _Malformed(f"unknown bit generator {name!r}")
        return getattr(np.random, name)()

    def _attributes(self, attrs: Any) -> dict[str, Any]:
        return {k: self.decode(x) for k, x in self._mapping(attrs, "attributes").items()}

    def estimator(self, v: dict) -> Any:
        name = v.get("__estimator__")
        cls = self._estimators.get(name)
        if cls is None:
            raise _Malformed(f"{name!r} is not a latentforge model class of this version")
        params = {k: self.decode(x) for k, x in self._mapping(v.get("params"), "params").items()}
        try:
            est = cls(**params)
        except TypeError as exc:
            raise _Malformed(f"the saved parameters of {name} do not fit this latentforge's "
                             f"{name}: {exc}") from None
        self._register(v.get("id"), est)
        est.__dict__.update(self._attributes(v.get("attributes")))
        return est


# ---------------------------------------------------------------------- checksums


def _payload_sha256(arrays: dict[str, np.ndarray], names: list[str]) -> str:
    """SHA-256 of the arrays ``names`` (in that order), as the module docstring defines."""
    h = hashlib.sha256()
    for name in names:
        a = arrays[name]
        h.update(f"{name}\0{a.dtype.str}\0{','.join(str(n) for n in a.shape)}\0".encode())
        h.update(a.tobytes(order="C"))
    return h.hexdigest()


def _write_trailer(f) -> None:
    """Give the complete archive in ``f`` its checksum comment (see the module docstring)."""
    f.seek(0)
    with zipfile.ZipFile(f, "a") as zf:  # rewrites the end record with the comment
        zf.comment = _TRAILER_PREFIX + b"0" * _DIGITS
    size = f.seek(0, os.SEEK_END)
    f.seek(0)
    h = hashlib.sha256()
    left = size - _DIGITS
    while left:
        chunk = f.read(min(left, 1 << 20))
        if not chunk:  # pragma: no cover - the file shrank under us
            raise OSError("the file being saved was truncated while it was written")
        h.update(chunk)
        left -= len(chunk)
    f.seek(size - _DIGITS)
    f.write(h.hexdigest().encode("ascii"))


def _check_file(path: str, data: bytes) -> None:
    """FormatError unless ``data`` ends with a checksum that matches it."""
    if not data:
        raise FormatError(path, "the file is empty, not a latentforge model file")
    tail = data[-_TRAILER_LEN:]
    digits = tail[len(_TRAILER_PREFIX):]
    if (len(data) < _TRAILER_LEN + 22 or not tail.startswith(_TRAILER_PREFIX)
            or not re.fullmatch(rb"[0-9a-f]{64}", digits)):
        if not data.startswith(_ZIP_MAGIC):
            raise FormatError(path, f"not a latentforge model file: not an .npz (zip) archive "
                                    f"(it starts with {data[:8]!r})")
        try:
            with zipfile.ZipFile(io.BytesIO(data)):
                pass
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            raise FormatError(path, "truncated or damaged: the latentforge checksum that ends "
                                    "every saved model is missing") from None
        raise FormatError(path, "not a latentforge model file: an .npz (zip) archive without "
                                "the latentforge checksum at its end (or with a damaged end)")
    actual = hashlib.sha256(memoryview(data)[:-_DIGITS]).hexdigest()
    if actual != digits.decode("ascii"):
        raise FormatError(path, f"the file is damaged: its SHA-256 is {actual[:12]}..., the "
                                f"checksum recorded at its end is {digits[:12].decode()}... "
                                "(a changed or lost byte); it cannot be loaded")


# ---------------------------------------------------------------------- save / load


def _create_temp(directory: str, base: str) -> tuple[str, int]:
    """A new file ``.<base>.<random>.tmp`` in ``directory`` (created exclusively, with the
    permissions a plain ``open`` would give it); returns its path and descriptor."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(directory, f".{base[:200]}.{secrets.token_hex(6)}.tmp")
        try:
            return tmp, os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file in {directory}")  # pragma: no cover


def _fsync_directory(directory: str) -> None:
    """Make a rename in ``directory`` durable (POSIX; a no-op where directories cannot be
    opened or synced)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write(path: Any, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Write ``meta`` (without its ``arrays``/``payload_sha256`` keys, added here) and
    ``arrays`` to ``path`` atomically, in the format of the module docstring."""
    names = list(arrays)
    meta = dict(meta, arrays=names, payload_sha256=_payload_sha256(arrays, names))
    blob = json.dumps(meta, allow_nan=False, separators=(",", ":")).encode("ascii")
    entries = {_META: np.frombuffer(blob, dtype=np.uint8), **arrays}

    def write(f) -> None:
        np.savez(f, **entries)
        _write_trailer(f)

    write_atomic(path, write)


def write_atomic(path: str | os.PathLike, write: Any) -> None:
    """Call ``write(f)`` on a new temporary file (binary) in ``path``'s directory, sync it and
    rename it over ``path``, then sync the directory: ``path`` holds the old content or the
    whole new one, never a part. On any error (KeyboardInterrupt included) the temporary file
    is removed and the error propagates."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    tmp, fd = _create_temp(directory, os.path.basename(path))
    try:
        with os.fdopen(fd, "w+b") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)


def save(model: Any, path: str | os.PathLike) -> None:
    """Save the latentforge estimator ``model`` (fitted or not) to the file ``path``.

    The file (format of :mod:`latentforge.persist`) holds the class, the parameters and the
    whole fitted state, with checksums; :func:`load` returns an equivalent estimator. The
    write is atomic: an existing file at ``path`` is replaced only once the new one is
    complete and synced to disk, and a failure leaves no temporary file behind.

    Raises TypeError when ``model`` is not a latentforge estimator or holds a value the
    format does not store (the message names the attribute); OSError from the file system.
    """
    estimators, _ = _registries()
    name = type(model).__name__
    if estimators.get(name) is not type(model):
        raise TypeError(f"model must be a latentforge estimator (one of "
                        f"{', '.join(sorted(estimators))}), got {type(model).__qualname__}")
    enc = _Encoder()
    root = enc.encode(model, name)
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "latentforge_version": _C.version(),
        "class": root["__estimator__"],
        "id": root["id"],
        "params": root["params"],
        "attributes": root["attributes"],
    }
    _write(path, meta, enc.arrays)


def load(path: str | os.PathLike, cls: type | None = None) -> Any:
    """The estimator saved at ``path`` by ``save`` (see :mod:`latentforge.persist`).

    Parameters
    ----------
    path : str or os.PathLike
    cls : class, optional
        The class the file must hold (a subclass is accepted), e.g.
        ``lf.load(path, lf.models.PCA)``; another class is a FormatError.

    Raises
    ------
    FormatError (a ValueError)
        The file is not a latentforge model file, is truncated or damaged (a checksum does
        not match), was written in a newer format version, has malformed metadata, or holds
        another class than ``cls``. The message names the path and the problem.
    OSError
        The file cannot be read (FileNotFoundError, ...).
    """
    if cls is not None and not isinstance(cls, type):
        raise TypeError(f"cls must be a class or None, got {cls!r}")
    fspath = os.fspath(path)
    with open(fspath, "rb") as f:
        data = f.read()
    _check_file(fspath, data)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            members = {name: npz[name] for name in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, TypeError,
            AttributeError) as exc:  # e.g. object arrays, which are never unpickled
        raise FormatError(fspath, f"not a readable .npz archive: {exc}") from None
    raw = members.pop(_META, None)
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise FormatError(fspath, "not a latentforge model file: no __meta__ entry")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormatError(fspath, f"malformed metadata: {exc}") from None
    if type(meta) is not dict or meta.get("format") != FORMAT_NAME:
        found = meta.get("format") if type(meta) is dict else None
        raise FormatError(fspath, f"not a latentforge model file (format {found!r}, expected "
                                  f"{FORMAT_NAME!r})")
    version = meta.get("format_version")
    if type(version) is not int or version < 1:
        raise FormatError(fspath, f"malformed metadata: format_version {version!r}")
    if version > FORMAT_VERSION:
        raise FormatError(
            fspath, f"written in format version {version} (by latentforge "
                    f"{meta.get('latentforge_version')}); this latentforge ({_C.version()}) "
                    f"reads versions up to {FORMAT_VERSION}: upgrade latentforge to load it")
    estimators, _ = _registries()
    name = meta.get("class")
    found = estimators.get(name) if type(name) is str else None
    if found is None:
        raise FormatError(fspath, f"holds a {name!r}, which is not a latentforge model class "
                                  "of this version")
    if cls is not None and not issubclass(found, cls):
        raise FormatError(fspath, f"holds a {name}, not a {cls.__name__}")
    names = meta.get("arrays")
    if type(names) is not list or sorted(map(str, names)) != sorted(members):
        raise FormatError(fspath, "malformed metadata: its list of arrays does not match the "
                                  "archive's members")
    if meta.get("payload_sha256") != _payload_sha256(members, names):
        raise FormatError(fspath, "the arrays do not match the checksum recorded in the "
                                  "metadata (payload_sha256)")
    root = {"__estimator__": name, "id": meta.get("id"), "params": meta.get("params"),
            "attributes": meta.get("attributes")}
    try:
        return _Decoder(members).estimator(root)
    except _Malformed as exc:
        raise FormatError(fspath, f"malformed metadata: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise FormatError(fspath, f"malformed metadata: {type(exc).__name__}: {exc}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")
