"""Evaluation figures: confusion matrices, precision-recall curves and threshold curves."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import confusion_matrix, precision_recall_curve

from labels.codebook import Codebook
from training.thresholds import GRID, threshold_curve


def _matrix(ax, cm: np.ndarray, labels: list[str], title: str) -> None:
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("annotated")
    ax.set_title(title, fontsize=9)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black")


def confusion_figure(codebook: Codebook, frames_true, frames_pred, stance_true, stance_pred, split: str) -> Figure:
    """One panel per frame (absent/present) and per stance target (codebook classes)."""
    n = len(codebook.frame_ids) + len(codebook.target_ids)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.4))
    axes = np.atleast_1d(axes)
    for k, f in enumerate(codebook.frame_ids):
        cm = confusion_matrix(frames_true[:, k], frames_pred[:, k], labels=[0, 1])
        _matrix(axes[k], cm, ["absent", "present"], f"{f} ({split})")
    labels = list(codebook.stance_labels)
    for k, t in enumerate(codebook.target_ids, start=len(codebook.frame_ids)):
        cm = confusion_matrix(stance_true[t], stance_pred[t], labels=list(range(len(labels))))
        _matrix(axes[k], cm, labels, f"stance: {t} ({split})")
    fig.tight_layout()
    return fig


def pr_figure(codebook: Codebook, frames_true: np.ndarray, frame_scores: np.ndarray, split: str) -> Figure:
    fig, ax = plt.subplots(figsize=(5, 4))
    for k, f in enumerate(codebook.frame_ids):
        if frames_true[:, k].sum() == 0:
            continue
        p, r, _ = precision_recall_curve(frames_true[:, k], frame_scores[:, k])
        ax.plot(r, p, label=f)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"Frame precision-recall ({split})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def threshold_figure(codebook: Codebook, frames_true: np.ndarray, frame_scores: np.ndarray,
                     thresholds: dict[str, float], grid: np.ndarray = GRID) -> Figure:
    """F1 over the thresholds the tuning tried (``grid``, default the fixed one), the chosen ones dotted."""
    fig, ax = plt.subplots(figsize=(5, 4))
    for k, f in enumerate(codebook.frame_ids):
        curve = threshold_curve(frames_true[:, k], frame_scores[:, k], grid)
        line, = ax.plot([c[0] for c in curve], [c[1] for c in curve], label=f)
        ax.axvline(thresholds.get(f, 0.5), color=line.get_color(), linestyle=":")
    ax.set_xlabel("decision threshold")
    ax.set_ylabel("F1 (validation)")
    ax.set_title("Frame F1 by threshold; dotted: chosen")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
