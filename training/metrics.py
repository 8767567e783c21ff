"""One metrics module for every model family, so comparisons are like for like.

Frames: per-label precision, recall and F1 and their macro average. Stance: per target the
macro-F1 over favor/against/neutral and F_avg, the mean F1 of favor and against (SemEval-2016).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score, precision_recall_fscore_support

from labels.codebook import Codebook


def frame_metrics(y_true: np.ndarray, y_pred: np.ndarray, frame_ids: list[str]) -> dict[str, float]:
    """Per-frame precision/recall/F1 and frames macro-F1 from 0/1 matrices (n, n_frames)."""
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0,
                                                 labels=list(range(len(frame_ids))))
    out: dict[str, float] = {}
    for i, fid in enumerate(frame_ids):
        out[f"frame_{fid}_precision"] = float(p[i])
        out[f"frame_{fid}_recall"] = float(r[i])
        out[f"frame_{fid}_f1"] = float(f[i])
    out["frames_macro_f1"] = float(np.mean(f))
    out["frames_micro_f1"] = float(f1_score(y_true, y_pred, average="micro", zero_division=0))
    return out


def stance_metrics(y_true: np.ndarray, y_pred: np.ndarray, target: str, labels: tuple[str, ...]) -> dict[str, float]:
    """Macro-F1 over all stance classes, per-class F1 and F_avg (mean F1 of favor and against)."""
    idx = list(range(len(labels)))
    per_class = f1_score(y_true, y_pred, labels=idx, average=None, zero_division=0)
    out = {f"stance_{target}_{lab}_f1": float(per_class[i]) for i, lab in enumerate(labels)}
    out[f"stance_{target}_macro_f1"] = float(np.mean(per_class))
    polar = [i for i, lab in enumerate(labels) if lab in ("favor", "against")]
    out[f"stance_{target}_favg"] = float(np.mean(per_class[polar])) if polar else float("nan")
    return out


def evaluate_arrays(
    codebook: Codebook,
    frames_true: np.ndarray,
    frames_pred: np.ndarray,
    stance_true: dict[str, np.ndarray],
    stance_pred: dict[str, np.ndarray],
    prefix: str,
) -> dict[str, float]:
    """All metrics for one split as a flat dict, each key prefixed (``val_``, ``test_``)."""
    out = frame_metrics(frames_true, frames_pred, codebook.frame_ids)
    for t in codebook.target_ids:
        out.update(stance_metrics(stance_true[t], stance_pred[t], t, codebook.stance_labels))
    out["stance_macro_f1"] = float(np.mean([out[f"stance_{t}_macro_f1"] for t in codebook.target_ids]))
    out["stance_favg"] = float(np.mean([out[f"stance_{t}_favg"] for t in codebook.target_ids]))
    return {f"{prefix}{k}": v for k, v in out.items()}


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denom = 2 * tp + fp + fn
    return np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)


def bootstrap_intervals(
    codebook: Codebook,
    frames_true: np.ndarray,
    frames_pred: np.ndarray,
    stance_true: dict[str, np.ndarray],
    stance_pred: dict[str, np.ndarray],
    prefix: str,
    n_resamples: int = 1000,
    level: float = 0.9,
    seed: int = 0,
) -> dict[str, float]:
    """Percentile bootstrap interval (passages resampled with replacement) of frames and stance
    macro-F1 and of stance F_avg, as ``{prefix}frames_macro_f1_ci_low``/``_ci_high`` and the same
    for ``stance_macro_f1`` and ``stance_favg``.

    The per-resample F1 matches ``evaluate_arrays`` (zero when a class has no true and no
    predicted member)."""
    rng = np.random.default_rng(seed)
    n = len(frames_true)
    idx = rng.integers(0, n, size=(n_resamples, n))
    yt, yp = frames_true[idx].astype(bool), frames_pred[idx].astype(bool)  # (R, n, F)
    frames = _f1((yt & yp).sum(1), (~yt & yp).sum(1), (yt & ~yp).sum(1)).mean(1)
    per_target, favg = [], []
    k = len(codebook.stance_labels)
    polar = [i for i, lab in enumerate(codebook.stance_labels) if lab in ("favor", "against")]
    for t in codebook.target_ids:
        t_true, t_pred = stance_true[t][idx], stance_pred[t][idx]
        f1s = np.array([_f1(((t_true == c) & (t_pred == c)).sum(1), ((t_true != c) & (t_pred == c)).sum(1),
                            ((t_true == c) & (t_pred != c)).sum(1)) for c in range(k)])
        per_target.append(f1s.mean(axis=0))
        favg.append(f1s[polar].mean(axis=0))
    stance = np.mean(per_target, axis=0)
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    out = {}
    for key, values in (("frames_macro_f1", frames), ("stance_macro_f1", stance),
                        ("stance_favg", np.mean(favg, axis=0))):
        out[f"{prefix}{key}_ci_low"] = float(np.percentile(values, lo))
        out[f"{prefix}{key}_ci_high"] = float(np.percentile(values, hi))
    return out
