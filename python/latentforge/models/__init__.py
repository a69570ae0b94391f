"""Estimators with scikit-learn conventions (``fit`` returns ``self``, learned attributes end
in ``_``, randomness from ``random_state``)."""

from __future__ import annotations

from .mlp import MLPClassifier
from .rbm import DBN, RBM

__all__ = ["DBN", "MLPClassifier", "RBM"]
