"""The one interface every model family implements: fit, predict_scores, save, load."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labels.codebook import Codebook
from training.config import ExperimentConfig
from training.data import TaskData
from training.thresholds import GRID

EpochCallback = Callable[[int, dict[str, float]], None]
"""Called after each epoch with the epoch number and metrics (training loss, validation scores)."""


@dataclass
class Scores:
    """Model scores for n passages: frame probabilities and stance class probabilities per target."""

    frames: np.ndarray  # (n, n_frames)
    stance: dict[str, np.ndarray]  # target id -> (n, n_stance_labels), rows sum to 1

    def stance_argmax(self) -> dict[str, np.ndarray]:
        return {t: p.argmax(axis=1) for t, p in self.stance.items()}


class Classifier(ABC):
    """A frames-and-stance classifier of one family."""

    family: str = ""

    def __init__(self, codebook: Codebook, config: ExperimentConfig) -> None:
        self.codebook = codebook
        self.config = config

    @abstractmethod
    def fit(self, train: TaskData, validation: TaskData, on_epoch: EpochCallback | None = None) -> None:
        """Train on ``train``; families with epochs early-stop on ``validation``."""

    @abstractmethod
    def predict_scores(self, texts: Sequence[str], targets: Sequence[str] | None = None) -> Scores:
        """Scores for ``texts``; stance only for ``targets`` (default: every codebook target)."""

    @abstractmethod
    def save(self, path: Path) -> None:
        """Write everything needed to predict into the folder ``path``."""

    @classmethod
    @abstractmethod
    def load(cls, path: Path, codebook: Codebook, config: ExperimentConfig) -> Classifier:
        """Rebuild a classifier saved by ``save``."""

    def threshold_grid(self) -> np.ndarray:
        """Candidate frame thresholds for tuning: the fixed grid, in this model's score scale."""
        return GRID

    def optimize_for_inference(self, int8: bool = False) -> list[str]:
        """Make prediction faster after loading; return what was applied (nothing by default).

        Families with a transformer encoder can quantise its linear layers to int8 (dynamic
        quantisation: weights int8, activations quantised per batch)."""
        return []


def class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Inverse-frequency class weights normalised to mean 1 (absent classes get weight 1)."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    w = np.where(counts > 0, counts.sum() / (n_classes * np.maximum(counts, 1)), 1.0)
    return (w / w.mean()).astype(np.float32)


def write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True), encoding="utf-8")


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
