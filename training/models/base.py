"""What training adds to the runtime's model interface (``stance_model.base.Model``): fit, and the
threshold grid tuned on validation."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping
from types import MappingProxyType

import numpy as np

from stance_model.base import Model
from stance_model.spec import ModelSpec
from training.config import ExperimentConfig
from training.data import TaskData
from training.thresholds import GRID

EpochCallback = Callable[[int, dict[str, float]], None]
"""Called after each epoch with the epoch number and metrics (training loss, validation scores)."""


def model_spec(config: ExperimentConfig) -> ModelSpec:
    """The part of an experiment config a saved model keeps (``stance_model.spec``)."""
    m = config.model
    return ModelSpec(family=m.family, base_model=m.base_model, max_length=m.max_length, target_text=m.target_text,
                     dropout=m.dropout, tfidf_blend=m.tfidf_blend)


class Classifier(Model):
    """A model of one family that can be trained. Subclasses also inherit from their family's
    runtime class, which predicts, saves and loads."""

    config: ExperimentConfig
    fit_metrics: Mapping[str, float] = MappingProxyType({})
    """Figures ``fit`` chose by (logged with the run; empty for families that choose nothing)."""
    train_features: np.ndarray | None = None
    """The training passages' features as ``predict_scores(train.texts).features`` gives them, when
    ``fit`` could keep them for less than that pass costs (else ``None``); the ``in_scope``
    detector trains on them."""

    @abstractmethod
    def fit(self, train: TaskData, validation: TaskData, on_epoch: EpochCallback | None = None) -> None:
        """Train on ``train``; families with epochs early-stop on ``validation``."""

    def threshold_grid(self) -> np.ndarray:
        """Candidate frame thresholds for tuning: the fixed grid, in this model's score scale."""
        return GRID


def class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Inverse-frequency class weights normalised to mean 1 (absent classes get weight 1)."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    w = np.where(counts > 0, counts.sum() / (n_classes * np.maximum(counts, 1)), 1.0)
    return (w / w.mean()).astype(np.float32)

