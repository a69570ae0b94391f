"""latentforge: representation learning on native C++/OpenMP (and CUDA) kernels.

>>> import numpy as np, latentforge as lf
>>> A = np.ones((3, 4), np.float32); B = np.ones((4, 2), np.float32)
>>> lf.ops.gemm(A, B)
array([[4., 4.],
       [4., 4.],
       [4., 4.]], dtype=float32)
"""

from __future__ import annotations

# distributed imports Ray (an optional dependency) only inside fit.
from . import (
    datasets,
    distributed,
    functional,
    insight,
    losses,
    models,
    nn,
    ops,
    optim,
    persist,
    tensor,
    viz,
)
from ._backend import Activation, build_info, get_num_threads, set_num_threads
from .persist import load
from .tensor import Tensor, no_grad

__version__: str = build_info()["version"]

__all__ = [
    "Activation",
    "Tensor",
    "__version__",
    "build_info",
    "datasets",
    "distributed",
    "functional",
    "insight",
    "get_num_threads",
    "load",
    "losses",
    "models",
    "nn",
    "no_grad",
    "ops",
    "optim",
    "persist",
    "set_num_threads",
    "tensor",
    "viz",
]
