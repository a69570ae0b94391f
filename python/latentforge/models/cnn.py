"""A convolutional classifier (LeNet/VGG-style blocks and a dense head) on latentforge's conv,
pooling and batch-norm kernels, with :class:`MLPClassifier`'s training loop and conventions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import nn
from ._base import check_input, check_same_device
from ._params import InvalidParameterError, choice_param, int_param, real_param, sizes_param
from .mlp import MLPClassifier

__all__ = ["ConvNetClassifier"]

_ACT_MODULES = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}
_POOLS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d, "l2": nn.L2Pool2d}


class ConvNetClassifier(MLPClassifier):
    """Convolutional network classifier: conv blocks, then a dense head with a softmax output,
    trained by minibatch backpropagation (cross-entropy).

    Each block is ``Conv2d(kernel_size, padding=kernel_size // 2)`` ("same" size for odd
    kernels) -> ``BatchNorm2d`` (with ``batchnorm``) -> activation -> pooling
    (``pool_size`` windows, stride ``pool_size``) -> ``Dropout2d`` (with ``conv_dropout``).
    With max pooling and ReLU the pooling runs before the activation: the result is identical
    (max and ReLU commute) on a quarter of the elements. The head is ``Flatten`` and then
    ``hidden`` dense layers (each followed by ``Dropout(dropout)``) and the output layer.

    Parameters
    ----------
    input_shape : None or (C, H, W) or (H, W)
        The shape of one sample when ``X`` is given flat, ``(n_samples, C*H*W)``; ``(H, W)``
        means one channel. None: taken from 4-D ``X`` ``(N, C, H, W)`` or 3-D ``X``
        ``(N, H, W)`` (one channel), or, for flat ``X`` with a square number of features,
        one square channel (784 -> (1, 28, 28)).
    channels : sequence of int
        Output channels of the conv blocks, e.g. ``(32, 64)``.
    kernel_size : int
    pool : {"max", "avg", "l2"} or None
    pool_size : int
    batchnorm : bool
        Batch normalisation after every convolution (the convolutions then have no bias).
    conv_dropout : float
        Channel dropout probability after every block (0 disables it).
    hidden : int or sequence of int
        Dense layers of the head (``()``: the output layer right after the blocks).
    dropout : float
        Dropout after every hidden dense layer.
    activation, optimizer, learning_rate, momentum, weight_decay, l1, max_norm, batch_size,
    max_epochs, min_updates_per_epoch, validation_fraction, early_stopping, patience,
    adversarial_eps, adversarial_weight, random_state, verbose, device
        As :class:`MLPClassifier` (defaults here: ReLU, Adam at 1e-3, batches of 64).

    Attributes
    ----------
    input_shape_ : (C, H, W)
    classes_, n_features_in_ (C*H*W), network_, history_, n_iter_, passes_per_epoch_, device_
        As :class:`MLPClassifier`. ``predict``, ``predict_proba`` and ``score`` take ``X``
        flat or as images, as ``fit`` does.
    """

    def __init__(
        self,
        input_shape: Sequence[int] | None = None,
        channels: Sequence[int] = (32, 64),
        kernel_size: int = 5,
        pool: str | None = "max",
        pool_size: int = 2,
        batchnorm: bool = False,
        conv_dropout: float = 0.0,
        hidden: Sequence[int] = (256,),
        activation: str = "relu",
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        momentum: float | None = None,
        weight_decay: float = 0.0,
        l1: float = 0.0,
        max_norm: float | None = None,
        dropout: float = 0.5,
        batch_size: int = 64,
        max_epochs: int = 10,
        min_updates_per_epoch: int = 50,
        validation_fraction: float = 0.1,
        early_stopping: bool = True,
        patience: int = 3,
        adversarial_eps: float = 0.0,
        adversarial_weight: float = 0.5,
        random_state: None | int | np.random.Generator = None,
        verbose: int = 0,
        device: str | None = None,
    ):
        super().__init__(
            hidden=hidden, activation=activation, optimizer=optimizer,
            learning_rate=learning_rate, momentum=momentum, weight_decay=weight_decay, l1=l1,
            max_norm=max_norm, dropout=dropout, batch_size=batch_size, max_epochs=max_epochs,
            min_updates_per_epoch=min_updates_per_epoch,
            validation_fraction=validation_fraction, early_stopping=early_stopping,
            patience=patience, adversarial_eps=adversarial_eps,
            adversarial_weight=adversarial_weight, random_state=random_state, verbose=verbose,
            device=device)
        self.input_shape = input_shape
        self.channels = channels
        self.kernel_size = kernel_size
        self.pool = pool
        self.pool_size = pool_size
        self.batchnorm = batchnorm
        self.conv_dropout = conv_dropout

    # ------------------------------------------------------------------ validation

    def _validate_params(self) -> None:
        super()._validate_params()
        sizes_param(self.channels, "channels", int_ok=False)
        int_param(self.kernel_size, "kernel_size")
        choice_param(self.pool, "pool", ("max", "avg", "l2", None))
        int_param(self.pool_size, "pool_size")
        if not isinstance(self.batchnorm, (bool, np.bool_)):
            raise InvalidParameterError(f"batchnorm must be a bool, got {self.batchnorm!r}")
        real_param(self.conv_dropout, "conv_dropout", low=0, high=1, high_open=True)
        if self.input_shape is not None:
            self._shape_param()

    def _shape_param(self) -> tuple[int, int, int]:
        """``input_shape`` as (C, H, W)."""
        s = self.input_shape
        if not isinstance(s, (tuple, list)) or len(s) not in (2, 3):
            raise InvalidParameterError(f"input_shape must be None, (C, H, W) or (H, W), got "
                                        f"{s!r}")
        dims = sizes_param(tuple(s), "input_shape", int_ok=False)
        return dims if len(dims) == 3 else (1,) + dims

    def _sample_shape(self, X: Any) -> tuple[Any, tuple[int, int, int] | None]:
        """``X`` flattened to 2-D when it comes as images, with the shape of one sample
        ((C, H, W), or None when ``X`` is flat)."""
        ndim = getattr(X, "ndim", None)
        if ndim is None:
            try:
                X = np.asarray(X)
            except (TypeError, ValueError):
                return X, None  # check_X_y names what is wrong with it
            ndim = X.ndim
        if ndim == 3:
            return X.reshape(X.shape[0], -1), (1,) + tuple(X.shape[1:])
        if ndim == 4:
            return X.reshape(X.shape[0], -1), tuple(X.shape[1:])
        return X, None

    def _resolve_shape(self, image_shape, n_features: int) -> tuple[int, int, int]:
        given = None if self.input_shape is None else self._shape_param()
        if image_shape is not None:
            if given is not None and given != image_shape:
                raise ValueError(f"X has samples of shape {image_shape} but input_shape is "
                                 f"{tuple(self.input_shape)}")
            return image_shape
        if given is not None:
            if int(np.prod(given)) != n_features:
                raise ValueError(f"X has {n_features} features but input_shape "
                                 f"{tuple(self.input_shape)} has {int(np.prod(given))}")
            return given
        side = int(round(np.sqrt(n_features)))
        if side * side != n_features:
            raise ValueError(f"X is flat with {n_features} features, not a square image: pass "
                             "input_shape=(C, H, W), or X as (N, C, H, W)")
        return (1, side, side)

    # ------------------------------------------------------------------ API

    def fit(self, X, y) -> ConvNetClassifier:
        """Train on images ``X`` (N, C, H, W), (N, H, W) or flat (N, C*H*W) (see
        ``input_shape``) and integer or string labels ``y``."""
        self._validate_params()
        X, image_shape = self._sample_shape(X)
        n_features = X.shape[1] if getattr(X, "ndim", 0) == 2 else 0
        if n_features:
            self.input_shape_ = self._resolve_shape(image_shape, n_features)
            self._check_spatial(self.input_shape_)
        return super().fit(X, y)

    def _check_fitted_input(self, X) -> np.ndarray:
        X, image_shape = self._sample_shape(X)
        if image_shape is not None and hasattr(self, "input_shape_") \
                and image_shape != tuple(self.input_shape_):
            raise ValueError(f"X has samples of shape {image_shape}, but {type(self).__name__} "
                             f"is expecting {tuple(self.input_shape_)}")
        X = check_input(self, X, "X", True, "network_", device_ok=True)
        check_same_device(self, X)
        return X

    # ------------------------------------------------------------------ network

    def _check_spatial(self, shape: tuple[int, int, int]) -> list[tuple[int, int]]:
        """The (H, W) after each block; ValueError when a block would leave nothing."""
        k, pool = int(self.kernel_size), int(self.pool_size)
        h, w = shape[1:]
        sizes = []
        for i, _ in enumerate(sizes_param(self.channels, "channels", int_ok=False)):
            h, w = h + 2 * (k // 2) - k + 1, w + 2 * (k // 2) - k + 1
            if self.pool is not None:
                h, w = (h - pool) // pool + 1 if h >= pool else 0, \
                       (w - pool) // pool + 1 if w >= pool else 0
            if h < 1 or w < 1:
                raise ValueError(
                    f"input of {shape[1]}x{shape[2]} is reduced to nothing by conv block "
                    f"{i + 1} (kernel_size={self.kernel_size}, pool_size={self.pool_size}): use "
                    "fewer channels entries or a smaller pool_size")
            sizes.append((h, w))
        return sizes

    def _build(self, n_in: int, n_out: int, rng: np.random.Generator) -> nn.Sequential:
        c, h, w = self.input_shape_
        act = self.activation
        k = int(self.kernel_size)
        layers: list[Any] = [nn.Unflatten(c, h, w)]
        prev = c
        for ch in sizes_param(self.channels, "channels", int_ok=False):
            layers.append(nn.Conv2d(prev, ch, k, padding=k // 2, bias=not self.batchnorm,
                                    random_state=rng))
            if self.batchnorm:
                layers.append(nn.BatchNorm2d(ch))
            block = [_ACT_MODULES[act]()]
            if self.pool is not None:
                pool = _POOLS[self.pool](int(self.pool_size))
                # max and ReLU commute: pool first, activate a quarter of the elements
                block = [pool] + block if (self.pool == "max" and act == "relu") else block + [pool]
            layers += block
            if self.conv_dropout > 0:
                layers.append(nn.Dropout2d(self.conv_dropout, random_state=rng))
            prev = ch
        h, w = self._check_spatial(self.input_shape_)[-1]
        layers.append(nn.Flatten())
        prev = prev * h * w
        for units in self._hidden_sizes():
            layers.append(nn.Linear(prev, units, activation=act, random_state=rng))
            if self.dropout > 0:
                layers.append(nn.Dropout(self.dropout, random_state=rng))
            prev = units
        layers.append(nn.Linear(prev, n_out, random_state=rng))
        return nn.Sequential(*layers)
