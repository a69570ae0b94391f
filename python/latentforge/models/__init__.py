"""Estimators with scikit-learn conventions (``fit`` returns ``self``, learned attributes end
in ``_``, randomness from ``random_state``)."""

from __future__ import annotations

from . import cat as cat  # the cat-paper network (lf.nn modules, not estimators)
from .autoencoder import DNN, Autoencoder, StackedAutoencoder
from .cnn import ConvNetClassifier
from .mlp import MLPClassifier
from .pca import PCA
from .rbm import DBN, RBM
from .tsne import TSNE
from .word2vec import KeyedVectors, Word2Vec

__all__ = ["DBN", "DNN", "PCA", "TSNE", "Autoencoder", "ConvNetClassifier", "KeyedVectors",
           "MLPClassifier", "RBM", "StackedAutoencoder", "Word2Vec"]
