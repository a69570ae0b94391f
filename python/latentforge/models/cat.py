"""The "cat paper" network, scaled down: Le et al. 2012, "Building high-level features using
large scale unsupervised learning" (ICML).

Each of its identical parts (Le et al.'s "layers") is

    locally connected filtering (untied weights, no padding)  ->  h
    L2 pooling over overlapping windows of each map            ->  p = sqrt(sum_window h^2)
    local contrast normalization (subtractive, then divisive)  ->  the part's output

and is trained without labels as a reconstruction-TICA autoencoder (the paper's objective
(1)): the transpose of a locally connected map ``W2`` decodes ``h`` back to the part's input,
and the loss is

    mean_n ( ||W2^T h(x_n) - x_n||^2 / d  +  lambda * mean_k p_k(x_n) )

(the squared error per input value and the mean pooled activation: the scale of ``lambda``
does not depend on the input size). The parts are stacked: part k+1 reads part k's output. The
encoding filters have no bias, as in the paper.

``W2`` is the encoder's own weight by default (``tied=True``, reconstruction ICA as in Le et
al. 2011): with untied weights the sparsity term alone can be driven to zero by shrinking
``W1`` and growing ``W2`` by the same factor, so an untied part (``tied=False``, the cat
paper's ``W1, W2``) needs the optimizer's ``max_norm`` (or weight decay) to keep the scales
fixed.

:class:`CatPart` is one part, :class:`CatNet` the stack; both are ``lf.nn.Module``\\ s, so
they train with any ``lf.optim`` rule, with :class:`latentforge.distributed.DownpourSGD` (the
paper's asynchronous SGD: pass :func:`tica_loss` as the loss) or a plain loop.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .. import _device, losses, nn
from .. import functional as F
from .._backend import check_random_state
from ..tensor import Tensor, no_grad

__all__ = ["CatPart", "CatNet", "probe", "tica_loss"]


def _tensor(x: Any) -> Tensor:
    """``x`` as a Tensor: itself, or its data as float32 C-contiguous where it lives (a device
    array stays on its device)."""
    if isinstance(x, Tensor):
        return x
    return Tensor(_device.array_module(x).ascontiguousarray(x, dtype=np.float32))


def _size(v: Any, name: str) -> tuple[int, int]:
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        v = (int(v), int(v))
    try:
        h, w = (int(s) for s in v)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an int or a pair of ints, got {v!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"{name} must be positive, got {v!r}")
    return h, w


class CatPart(nn.Module):
    """One part of the cat-paper network: locally connected filters, L2 pooling, LCN.

    Parameters
    ----------
    in_channels : int
    maps : int
        Feature maps of the locally connected filtering (and of the part's output).
    input_size : int or (H, W)
    kernel_size : int
        Side of the receptive fields (Le et al.: 18 on a 200-pixel input, about a tenth).
    pool_size : int
        L2-pooling window (odd; stride 1 and "same" padding, so windows overlap).
    lcn_size : int
        Local contrast normalization window.
    sparsity : float
        ``lambda``: the weight of the pooled activations in the loss.
    tied : bool
        Decode with the encoder's weight (True) or with a separate ``decoder_weight``.
    random_state : int, Generator or None

    Attributes
    ----------
    encoder : nn.LocallyConnected2d (no bias)
    decoder_weight : Parameter of the encoder weight's shape (``tied=False``), or the encoder's
        weight itself (``tied=True``)
    pool : nn.L2Pool2d
    lcn : nn.LocalContrastNorm2d
    output_shape : (maps, OH, OW)
    """

    def __init__(self, in_channels: int, maps: int, input_size: Any, kernel_size: int,
                 pool_size: int = 5, lcn_size: int = 5, sparsity: float = 0.1,
                 tied: bool = True, random_state: Any = None):
        super().__init__()
        rng = check_random_state(random_state)
        h, w = _size(input_size, "input_size")
        if not isinstance(pool_size, numbers.Integral) or pool_size < 1 or pool_size % 2 == 0:
            raise ValueError(f"pool_size must be a positive odd int, got {pool_size!r}")
        if not isinstance(sparsity, numbers.Real) or not sparsity >= 0:
            raise ValueError(f"sparsity must be a real number >= 0, got {sparsity!r}")
        self.encoder = nn.LocallyConnected2d(in_channels, maps, (h, w), kernel_size, bias=False,
                                             random_state=rng)
        wshape = self.encoder.weight.data.shape
        k = int(np.prod(wshape[3:]))
        self.tied = bool(tied)
        if self.tied:
            self._decoder_weight = self.encoder.weight  # private: listed once, as the encoder's
        else:
            self._decoder_weight = nn.Parameter(
                rng.uniform(-1 / np.sqrt(k), 1 / np.sqrt(k), size=wshape).astype(np.float32))
            self.decoder_weight = self._decoder_weight
        self.pool = nn.L2Pool2d(int(pool_size), stride=1, padding=int(pool_size) // 2)
        self.lcn = nn.LocalContrastNorm2d(int(lcn_size))
        self.input_shape = (int(in_channels), h, w)
        self.output_shape = (int(maps), int(wshape[0]), int(wshape[1]))
        self.sparsity = float(sparsity)

    def filters(self, x: Tensor) -> Tensor:
        """Locally connected filter responses ``h`` (N, maps, OH, OW)."""
        return self.encoder(x)

    def pooled(self, x: Tensor) -> Tensor:
        """L2-pooled responses ``p`` (non-negative)."""
        return self.pool(self.filters(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.lcn(self.pooled(x))

    def reconstruct(self, h: Tensor) -> Tensor:
        """``W2^T h``: the decoded input (N, in_channels, H, W)."""
        return F.locally_connected2d_transpose(h, self._decoder_weight,
                                               self.input_shape[1:])

    def loss(self, x: Tensor) -> Tensor:
        """The reconstruction-TICA loss of a batch (see the module docstring)."""
        h = self.filters(x)
        rec = losses.mse(self.reconstruct(h), x)
        if self.sparsity == 0:
            return rec
        return rec + self.pool(h).mean() * self.sparsity

    def extra_repr(self) -> str:
        return (f"in={self.input_shape}, out={self.output_shape}, "
                f"kernel_size={self.encoder.kernel_size}, sparsity={self.sparsity}, "
                f"tied={self.tied}")


class CatNet(nn.Module):
    """A stack of :class:`CatPart`\\ s (Le et al. 2012 used three), each reading the previous
    part's output.

    Parameters
    ----------
    input_shape : (C, H, W) or (H, W)
    maps : int or sequence of int
        Feature maps of each part (an int: the same for every part).
    n_parts : int
    kernel_size, pool_size, lcn_size, sparsity, tied
        As :class:`CatPart` (the same for every part).
    random_state : int, Generator or None

    ``forward(x)`` runs every part (``x`` flat ``(N, C*H*W)`` or ``(N, C, H, W)``);
    :meth:`features` returns one part's filter, pooled or normalized outputs, flattened: the
    "neurons" to probe.
    """

    def __init__(self, input_shape: Any = (1, 28, 28), maps: Any = 8, n_parts: int = 3,
                 kernel_size: int = 3, pool_size: int = 5, lcn_size: int = 5,
                 sparsity: float = 0.1, tied: bool = True, random_state: Any = None):
        super().__init__()
        shape = tuple(int(s) for s in input_shape)
        if len(shape) == 2:
            shape = (1,) + shape
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"input_shape must be (C, H, W) or (H, W), got {input_shape!r}")
        if not isinstance(n_parts, numbers.Integral) or n_parts < 1:
            raise ValueError(f"n_parts must be a positive int, got {n_parts!r}")
        maps = [int(maps)] * int(n_parts) if isinstance(maps, numbers.Integral) \
            else [int(m) for m in maps]
        if len(maps) != n_parts:
            raise ValueError(f"maps must be an int or {n_parts} ints, got {len(maps)}")
        rng = check_random_state(random_state)
        self.input_shape = shape
        parts = []
        c, h, w = shape
        for i, m in enumerate(maps):
            if h < kernel_size or w < kernel_size:
                raise ValueError(f"part {i + 1} gets a {h}x{w} input, smaller than "
                                 f"kernel_size={kernel_size}: use fewer parts")
            part = CatPart(c, m, (h, w), kernel_size, pool_size, lcn_size, sparsity, tied, rng)
            parts.append(part)
            c, h, w = part.output_shape
        self.parts = parts

    def _images(self, x: Any) -> Tensor:
        x = _tensor(x)
        if x.data.ndim == 2:
            x = x.reshape(x.data.shape[0], *self.input_shape)
        return x

    def forward(self, x: Any, upto: int | None = None) -> Tensor:
        x = self._images(x)
        for part in self.parts[:upto]:
            x = part(x)
        return x

    def part_input(self, x: Any, k: int) -> np.ndarray:
        """The input of part ``k`` (0-based) for data ``x``: the output of the parts below it
        (no gradient), as float32 (N, C, H, W)."""
        with no_grad():
            return self.forward(x, upto=k).data

    def features(self, X: Any, part: int = -1, stage: str = "pooled",
                 batch_size: int = 500) -> np.ndarray:
        """Activations of one part's neurons for data ``X``, flattened to (N, n_neurons):
        ``stage`` "filters" (``h``), "pooled" (``p``, the default) or "normalized" (the part's
        output)."""
        if stage not in ("filters", "pooled", "normalized"):
            raise ValueError(f"stage must be 'filters', 'pooled' or 'normalized', got {stage!r}")
        k = range(len(self.parts))[part]
        X = X if _device.on_device(X) else np.asarray(X, dtype=np.float32)
        out = []
        modes = [(m, m.training) for m in self.modules()]
        self.eval()
        try:
            with no_grad():
                for i in range(0, X.shape[0], int(batch_size)):
                    x = self.forward(X[i:i + int(batch_size)], upto=k)
                    p = self.parts[k]
                    f = {"filters": p.filters, "pooled": p.pooled, "normalized": p}[stage](x)
                    out.append(f.data.reshape(f.data.shape[0], -1))
        finally:
            for m, mode in modes:
                m.training = mode
        return _device.array_module(X).concatenate(out)


class _Features(nn.Module):
    """Flat input rows -> one part's activations, flattened (a probe for ``lf.insight``)."""

    def __init__(self, net: CatNet, part: int, stage: str):
        super().__init__()
        self._net, self._part, self._stage = net, part, stage

    def forward(self, x: Tensor) -> Tensor:
        net = self._net
        x = net._images(x)
        k = self._part
        x = net.forward(x, upto=k)
        p = net.parts[k]
        f = {"filters": p.filters, "pooled": p.pooled, "normalized": p}[self._stage](x)
        return f.reshape(f.data.shape[0], -1)


def probe(net: CatNet, part: int = -1, stage: str = "pooled") -> nn.Module:
    """A module mapping flat input rows to the activations :meth:`CatNet.features` returns,
    for :func:`latentforge.insight.maximize_activation` / ``top_activating`` (its parameters
    are the network's own)."""
    if stage not in ("filters", "pooled", "normalized"):
        raise ValueError(f"stage must be 'filters', 'pooled' or 'normalized', got {stage!r}")
    return _Features(net, range(len(net.parts))[part], stage)


def tica_loss(model: nn.Module, xb: Any, yb: Any = None) -> Tensor:
    """The reconstruction-TICA loss of a :class:`CatPart` on a batch (labels ignored): the loss
    callable for :class:`latentforge.distributed.DownpourSGD` / ``SyncSGD``."""
    x = _tensor(xb)
    if x.data.ndim == 2:
        x = x.reshape(x.data.shape[0], *model.input_shape)
    return model.loss(x)
