"""Per-frame decision thresholds, tuned on the validation split and stored with the model."""

from __future__ import annotations

import numpy as np

GRID = np.round(np.arange(0.05, 0.951, 0.025), 3)


def temper(p: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities ``p = sigmoid(z)`` turned into ``sigmoid(z / temperature)``."""
    return 1.0 / (1.0 + np.exp(-np.log(p / (1.0 - p)) / temperature))


def f1_at(y: np.ndarray, scores: np.ndarray, threshold: float) -> float:
    pred = scores >= threshold
    tp = float(np.sum(pred & (y == 1)))
    fp = float(np.sum(pred & (y == 0)))
    fn = float(np.sum(~pred & (y == 1)))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def threshold_curve(y: np.ndarray, scores: np.ndarray, grid: np.ndarray = GRID) -> list[tuple[float, float]]:
    """F1 at every threshold of ``grid``."""
    return [(float(t), f1_at(y, scores, float(t))) for t in grid]


def tune_thresholds(y: np.ndarray, scores: np.ndarray, frame_ids: list[str],
                    grid: np.ndarray = GRID) -> dict[str, float]:
    """For each frame the ``grid`` threshold with the best validation F1 (ties: nearest to 0.5).

    A frame with no positive example in ``y`` keeps 0.5: there is nothing to tune on. A calibrated
    model passes its grid mapped through its calibration, so calibrating never changes a decision.
    """
    out: dict[str, float] = {}
    for i, fid in enumerate(frame_ids):
        if y[:, i].sum() == 0:
            out[fid] = 0.5
            continue
        curve = threshold_curve(y[:, i], scores[:, i], grid)
        best = max(curve, key=lambda tf: (round(tf[1], 6), -abs(tf[0] - 0.5)))
        out[fid] = best[0]
    return out
