"""Logistic-regression heads over fixed features, shared by the two baseline families."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression

from labels.codebook import Codebook
from training.data import TaskData


class LogRegHeads:
    """One binary logistic regression per frame and one multinomial one per stance target."""

    def __init__(self, codebook: Codebook, c: float, balanced: bool, seed: int) -> None:
        self.codebook = codebook
        self.c = c
        self.balanced = balanced
        self.seed = seed
        self.frame_models: list[LogisticRegression | float] = []
        self.stance_models: dict[str, LogisticRegression | int] = {}

    def _model(self) -> LogisticRegression:
        return LogisticRegression(C=self.c, max_iter=2000, random_state=self.seed,
                                  class_weight="balanced" if self.balanced else None)

    def fit(self, x: np.ndarray, data: TaskData) -> None:
        self.frame_models = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i in range(data.frames.shape[1]):
                y = data.frames[:, i].astype(int)
                if y.min() == y.max():
                    self.frame_models.append(float(y[0]))  # constant: nothing to learn
                    continue
                m = self._model()
                m.fit(x, y)
                self.frame_models.append(m)
            for t in self.codebook.target_ids:
                y = data.stance[t]
                if len(set(y.tolist())) == 1:
                    self.stance_models[t] = int(y[0])
                    continue
                m = self._model()
                m.fit(x, y)
                self.stance_models[t] = m

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
