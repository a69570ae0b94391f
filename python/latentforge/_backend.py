"""Array coercion, threads and build information shared by every latentforge module.

Input rules (every op follows them):

* float32 arrays with unit stride along their last axis are used in place (zero-copy); a
  transposed (Fortran-ordered) float32 matrix is used in place too, as a transposed operand.
* Other floating inputs (float64, float16), non-contiguous views and unaligned arrays are
  converted to a C-contiguous float32 copy, once per call. float32 is the compute type.
* Integer, boolean, complex, object and string inputs raise ``TypeError``: converting them
  silently would hide mistakes. Cast them yourself (``x.astype(np.float32)``).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from . import _C, _optable

_FLOAT_KINDS = ("f",)


def _check_dtype(x: np.ndarray, name: str) -> None:
    if x.dtype.kind not in _FLOAT_KINDS:
        raise TypeError(
            f"{name} must be a floating-point array (float32 is used for compute), "
            f"got dtype {x.dtype}"
        )


def as_float32(x: Any, name: str, ndim: int | None = None) -> np.ndarray:
    """Return ``x`` as a float32 ndarray with unit last-axis stride (zero-copy when possible).

    Raises TypeError for non-floating dtypes and ValueError for a wrong number of dimensions.
    """
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x)
        except (ValueError, TypeError) as exc:
            raise TypeError(f"{name} cannot be converted to an array: {exc}") from None
    _check_dtype(x, name)
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got {x.ndim}-D array of shape {x.shape}")
    if x.dtype != np.float32:
        return np.ascontiguousarray(x, dtype=np.float32)
    if not x.flags.aligned:  # e.g. a view into a byte buffer at an odd offset
        return np.array(x, dtype=np.float32, order="C", copy=True)
    if x.ndim >= 1 and x.shape[-1] > 1 and x.strides[-1] != x.itemsize:
        return np.ascontiguousarray(x)
    if x.ndim == 2 and x.shape[0] > 1 and (x.strides[0] <= 0 or x.strides[0] % x.itemsize):
        return np.ascontiguousarray(x)
    return x


def as_float32_matrix(x: Any, name: str) -> tuple[np.ndarray, bool]:
    """Coerce ``x`` to a 2-D float32 row-major matrix.

    Returns ``(m, transposed)``: when ``x`` is a Fortran-ordered float32 matrix (for example
    ``a.T`` of a C-ordered one), ``m`` is its C-ordered transpose view and ``transposed`` is
    True, so kernels can read it in place with the transposed flag flipped.
    """
    if not isinstance(x, np.ndarray):
        x = as_float32(x, name)
    _check_dtype(x, name)
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got {x.ndim}-D array of shape {x.shape}")
    if (
        x.dtype == np.float32
        and x.flags.aligned
        and not x.flags.c_contiguous
        and x.shape[0] > 1
        and x.strides[0] == x.itemsize
        and x.strides[1] >= x.shape[0] * x.itemsize
    ):
        return x.T, True
    return as_float32(x, name), False


#: The activations the native kernels apply (bound from ``csrc/core/activation.h``). Every call
#: into ``_C`` that takes an activation passes a member of this enum, never a bare integer.
Activation = _C.Activation

_ACTIVATION_NAMES = {
    None: Activation.none,
    "none": Activation.none,
    "sigmoid": Activation.sigmoid,
    "tanh": Activation.tanh,
    "relu": Activation.relu,
}


def activation(value: Any, name: str = "activation") -> Any:
    """The :class:`Activation` named by ``value``: ``None``/``"none"``, ``"sigmoid"``,
    ``"tanh"``, ``"relu"``, or a member of the enum itself. Raises ValueError otherwise."""
    if isinstance(value, Activation):
        return value
    try:
        return _ACTIVATION_NAMES[value]
    except (KeyError, TypeError):
        raise ValueError(
            f"{name} must be one of None, 'sigmoid', 'tanh', 'relu'; got {value!r}"
        ) from None


def check_random_state(random_state: Any, name: str = "random_state") -> np.random.Generator:
    """The one coercion of ``random_state`` arguments: ``None`` (fresh entropy), an int seed
    (>= 0) or a :class:`numpy.random.Generator` (used as is). Anything else raises TypeError."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"{name} must be a non-negative int, got {random_state}")
        return np.random.default_rng(int(random_state))
    raise TypeError(
        f"{name} must be None, an int or a numpy Generator, got {type(random_state).__name__}"
    )


_MAX_THREADS = 1 << 16  # far above any machine; keeps n a C int


def set_num_threads(n: int) -> None:
    """Set the number of threads latentforge kernels use (``0`` returns to OpenMP's default,
    which follows ``OMP_NUM_THREADS``)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if n < 0 or n > _MAX_THREADS:
        raise ValueError(
            f"n must be in [1, {_MAX_THREADS}] (or 0 for the OpenMP default), got {n}"
        )
    _C.set_num_threads(int(n))


def get_num_threads() -> int:
    """Number of threads latentforge kernels use."""
    return int(_C.get_num_threads())


def build_info() -> dict[str, Any]:
    """How this copy of latentforge was built and what it will run on."""
    requested = _C.isa_env_request()
    return {
        "version": _C.version(),
        "compiler": _C.compiler(),
        "isa_compiled": list(_C.isa_compiled()),
        "isa_detected": _C.isa_detected(),
        "isa_selected": _C.isa_active(),
        "isa_requested": requested or None,
        "openmp": bool(_C.openmp()),
        "num_threads": get_num_threads(),
        "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"),
        "cuda_compiled": bool(_C.cuda_compiled()),
        "cuda_devices": int(_C.cuda_device_count()),
        # Ops with a CUDA kernel in this build (latentforge/_optable.py lists them all).
        "cuda_ops": [op.name for op in _optable.OPS if op.cuda] if _C.cuda_compiled() else [],
        # The architectures (CMAKE_CUDA_ARCHITECTURES) the device kernels were compiled for.
        "cuda_architectures": [a for a in _C.device.architectures().split(",") if a],
    }
