"""Fitting the logistic-regression heads of the two baseline families (``stance_model.heads``)."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression

from stance_model.heads import LogRegHeads
from training.data import TaskData


def fit_heads(heads: LogRegHeads, x: np.ndarray, data: TaskData) -> None:
    """Fit every frame head and every stance head of ``heads`` on the features ``x`` of ``data``; a
    label with one class in ``data`` becomes that constant."""

    def model() -> LogisticRegression:
        return LogisticRegression(C=heads.c, max_iter=2000, random_state=heads.seed,
                                  class_weight="balanced" if heads.balanced else None)

    heads.frame_models = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(data.frames.shape[1]):
            y = data.frames[:, i].astype(int)
            if y.min() == y.max():
                heads.frame_models.append(float(y[0]))  # constant: nothing to learn
                continue
            heads.frame_models.append(model().fit(x, y))
        for t in heads.codebook.target_ids:
            y = data.stance[t]
            if len(set(y.tolist())) == 1:
                heads.stance_models[t] = int(y[0])
                continue
            heads.stance_models[t] = model().fit(x, y)
