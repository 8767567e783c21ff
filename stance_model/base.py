"""The interface every model family implements at prediction time: predict_scores, save, load."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labels.codebook import Codebook
from stance_model.spec import ModelSpec


@dataclass
class Scores:
    """Model scores for n passages: frame probabilities and stance class probabilities per target."""

    frames: np.ndarray  # (n, n_frames)
    stance: dict[str, np.ndarray]  # target id -> (n, n_stance_labels), rows sum to 1
    features: np.ndarray | None = None  # (n, hidden) passage features of encoder families, for ``stance_model.scope``

    def stance_argmax(self) -> dict[str, np.ndarray]:
        return {t: p.argmax(axis=1) for t, p in self.stance.items()}


class Model(ABC):
    """A frames-and-stance model of one family, ready to predict."""

    family: str = ""

    def __init__(self, codebook: Codebook, spec: ModelSpec) -> None:
        self.codebook = codebook
        self.spec = spec

    @abstractmethod
    def predict_scores(self, texts: Sequence[str], targets: Sequence[str] | None = None) -> Scores:
        """Scores for ``texts``; stance only for ``targets`` (default: every codebook target)."""

    @abstractmethod
    def save(self, path: Path) -> None:
        """Write everything needed to predict into the folder ``path``."""

    @classmethod
    @abstractmethod
    def load(cls, path: Path, codebook: Codebook, spec: ModelSpec) -> Model:
        """Rebuild a model saved by ``save``."""

    def optimize_for_inference(self, int8: bool = False) -> list[str]:
        """Make prediction faster after loading; return what was applied (nothing by default).

        Families with a transformer encoder can quantise its linear layers to int8 (dynamic
        quantisation: weights int8, activations quantised per batch)."""
        return []


def write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True), encoding="utf-8")


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
