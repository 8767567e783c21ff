"""When a decision is confident: thresholds on the calibrated probability of each decision, chosen on
validation so that the decisions above them are right at a stated rate, and their figures on any split.

A frame decision's probability is its score when the frame is given and one minus it when not; a
stance decision's is the winning class's score. Each kind of decision gets its own threshold: per
frame one for "given" (``yes``) and one for "not given" (``no``), per target one per stance class.
It is the lowest of ``GRID`` at which the validation decisions of that kind at or above it are
right at least ``PRECISION`` of the time (the precision of that class among confident
decisions), over at least ``MIN_SUPPORT`` passages; where none is, no decision of that kind is
confident. The thresholds travel in the saved model (``meta["confidence"]``) and the
runtime sets each decision's ``confident`` flag from them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stance_model.base import Scores
from stance_model.predictor import Predictor, decision_probabilities
from training.data import TaskData

PRECISION = 0.9
"""Share of confident validation decisions that must be right."""
MIN_SUPPORT = 20
"""Fewest validation passages a threshold may rest on."""
GRID = np.round(np.arange(0.5, 1.0001, 0.01), 2)
NEVER = 1.01
"""The threshold of a label no validation threshold reaches ``PRECISION`` for: nothing is confident."""


def lowest_threshold(prob: np.ndarray, correct: np.ndarray, precision: float = PRECISION,
                     min_support: int = MIN_SUPPORT) -> float:
    """The lowest ``GRID`` value whose decisions at or above it are right at ``precision``, else ``NEVER``."""
    for t in GRID:
        above = prob >= t
        if above.sum() >= min_support and correct[above].mean() >= precision:
            return float(t)
    return NEVER


def _decisions(predictor: Predictor, data: TaskData, scores: Scores
               ) -> dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]]:
    """(probability of each decision of a kind, whether it is right), by (task, label, kind):
    ("frames", frame, "yes" | "no") and ("stance", target, class)."""
    decided = predictor.decide_frames(scores.frames)
    probs = decision_probabilities(decided, scores)
    out = {}
    for j, f in enumerate(predictor.codebook.frame_ids):
        right = decided[:, j] == data.frames[:, j].astype(bool)
        for kind, mask in (("yes", decided[:, j]), ("no", ~decided[:, j])):
            out[("frames", f, kind)] = (probs["frames"][mask, j], right[mask])
    for t, p in scores.stance.items():
        pred = p.argmax(1)
        for c, lab in enumerate(predictor.codebook.stance_labels):
            mask = pred == c
            out[("stance", t, lab)] = (probs["stance"][t][mask], data.stance[t][mask] == c)
    return out


def fit_confidence(predictor: Predictor, validation: TaskData, scores: Scores,
                   precision: float = PRECISION) -> dict[str, Any]:
    """Per-frame and per-target thresholds, one per kind of decision, from the validation split's scores."""
    out: dict[str, Any] = {"precision": precision, "frames": {}, "stance": {}}
    for (task, label, kind), (p, c) in _decisions(predictor, validation, scores).items():
        out[task].setdefault(label, {})[kind] = lowest_threshold(p, c, precision)
    return out


def confidence_metrics(predictor: Predictor, data: TaskData, scores: Scores, confidence: dict[str, Any],
                       prefix: str) -> dict[str, float]:
    """Coverage (share of decisions flagged confident) and precision (share of those right), frames
    and stance pooled: ``{prefix}confident_{frames,stance}_{coverage,precision}``; and for the
    stance decisions that take a side (favor, against) alone: ``{prefix}confident_sides_*``."""
    pooled: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"frames": [], "stance": [], "sides": []}
    for (task, label, kind), (prob, correct) in _decisions(predictor, data, scores).items():
        part = (prob >= confidence[task][label][kind], correct)
        pooled[task].append(part)
        if task == "stance" and kind != "neutral":
            pooled["sides"].append(part)
    out = {}
    for task, parts in pooled.items():
        flag = np.concatenate([f for f, _ in parts])
        correct = np.concatenate([c for _, c in parts])
        out[f"{prefix}confident_{task}_coverage"] = float(flag.mean()) if flag.size else float("nan")
        out[f"{prefix}confident_{task}_precision"] = float(correct[flag].mean()) if flag.any() else float("nan")
    return out
