"""Logistic-regression heads over fixed features (the two baseline families), as used to predict.

Training fits them (``training.models.heads.fit_heads``); they are saved pickled with the model.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from labels.codebook import Codebook
from stance_model.base import Scores

MOVED = {"training.models.heads": "stance_model.heads"}
"""Modules whose classes moved here: pickles of models saved before the move name the old module."""


class LogRegHeads:
    """One binary logistic regression per frame and one multinomial one per stance target; a head
    with one class in training is stored as that constant."""

    def __init__(self, codebook: Codebook, c: float, balanced: bool, seed: int) -> None:
        self.codebook = codebook
        self.c = c
        self.balanced = balanced
        self.seed = seed
        self.frame_models: list[Any] = []
        self.stance_models: dict[str, Any] = {}

    def scores(self, x: np.ndarray, targets: Sequence[str] | None = None) -> Scores:
        """Frame scores and the stance of ``targets`` (default: every codebook target) for features ``x``."""
        targets = list(targets) if targets is not None else self.codebook.target_ids
        return Scores(frames=self.frames(x), stance={t: self.stance(x, t) for t in targets})

    def frames(self, x: np.ndarray) -> np.ndarray:
        cols = []
        for m in self.frame_models:
            cols.append(np.full(x.shape[0], m) if isinstance(m, float) else m.predict_proba(x)[:, 1])
        return np.stack(cols, axis=1).astype(np.float32)

    def stance(self, x: np.ndarray, target: str) -> np.ndarray:
        n_labels = len(self.codebook.stance_labels)
        m = self.stance_models[target]
        out = np.zeros((x.shape[0], n_labels), dtype=np.float32)
        if isinstance(m, int):
            out[:, m] = 1.0
            return out
        out[:, m.classes_] = m.predict_proba(x)
        return out


def load_pickle(path: Path) -> Any:
    """A joblib file of a saved model, with classes that moved into this package found where they
    are now."""
    from joblib import numpy_pickle

    class Unpickler(numpy_pickle.NumpyUnpickler):
        def find_class(self, module: str, name: str) -> Any:
            return super().find_class(MOVED.get(module, module), name)

    data = Path(path).read_bytes()
    try:
        unpickler = Unpickler(str(path), io.BytesIO(data), ensure_native_byte_order=True)
    except TypeError:  # joblib before 1.5 has no byte-order argument
        unpickler = Unpickler(str(path), io.BytesIO(data))
    try:
        return unpickler.load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ModuleNotFoundError) as exc:
        raise ValueError(f"{path} is not a readable model file: {exc}") from exc
