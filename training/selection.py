"""The one rule that says which of two models is better, used by promotion and the leaderboard.

A model is judged on validation (the corpus's own held-out articles) and on realdev (passages
rewritten from real news, never trained or tuned on). Its *selection score* is the mean of
validation frames and stance macro-F1 and realdev frames and stance macro-F1. A challenger beats
the champion when its score is at least the champion's and it passes two gates:

- realdev stance macro-F1 no more than ``REALDEV_NOISE`` below the champion's (90 passages: a
  smaller difference is noise), and
- the validation score (mean of frames and stance macro-F1) no more than ``VAL_NOISE`` below.

The leaderboard orders runs by the same rule against the current champion: the runs that pass
both gates by score, then those that fail one. So a candidate ranks above the champion exactly
when promotion would accept it. Runs without realdev figures are scored on validation alone and
ranked after every run that has them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

REALDEV_NOISE = 0.04
"""Realdev stance macro-F1 a challenger may lose and still win (the set's noise band)."""
VAL_NOISE = 0.01
"""Validation score (mean of frames and stance macro-F1) a challenger may lose and still win."""

VAL_KEYS = ("val_frames_macro_f1", "val_stance_macro_f1")
REALDEV_KEYS = ("realdev_frames_macro_f1", "realdev_stance_macro_f1")
KEYS = VAL_KEYS + REALDEV_KEYS


def has_realdev(m: Mapping[str, float]) -> bool:
    return all(k in m for k in REALDEV_KEYS)


def validation_score(m: Mapping[str, float]) -> float:
    return sum(m.get(k, 0.0) for k in VAL_KEYS) / len(VAL_KEYS)


def score(m: Mapping[str, float]) -> float:
    """The selection score: mean of validation and realdev frames and stance macro-F1 (validation
    alone when the run has no realdev figures)."""
    keys = KEYS if has_realdev(m) else VAL_KEYS
    return sum(m.get(k, 0.0) for k in keys) / len(keys)


def gate_failures(challenger: Mapping[str, float], champion: Mapping[str, float]) -> list[str]:
    """Why ``challenger`` may not replace ``champion`` whatever its score (empty: it may)."""
    out = []
    if has_realdev(challenger) and has_realdev(champion):
        drop = champion["realdev_stance_macro_f1"] - challenger["realdev_stance_macro_f1"]
        if drop > REALDEV_NOISE:
            out.append(f"realdev stance macro-F1 {drop:.3f} below the champion's (noise band {REALDEV_NOISE})")
    drop = validation_score(champion) - validation_score(challenger)
    if drop > VAL_NOISE:
        out.append(f"validation score {drop:.3f} below the champion's (noise band {VAL_NOISE})")
    return out


@dataclass(frozen=True)
class Verdict:
    wins: bool
    reason: str


def compare(challenger: Mapping[str, float], champion: Mapping[str, float]) -> Verdict:
    """Whether ``challenger`` should replace ``champion``, and why."""
    if has_realdev(champion) and not has_realdev(challenger):
        return Verdict(False, "the challenger has no realdev figures and the champion has")
    failed = gate_failures(challenger, champion)
    if failed:
        return Verdict(False, "; ".join(failed))
    a, b = score(challenger), score(champion)
    basis = "validation and realdev" if has_realdev(challenger) and has_realdev(champion) else "validation only"
    if a < b:
        return Verdict(False, f"selection score {a:.4f} below the champion's {b:.4f} ({basis})")
    return Verdict(True, f"selection score {a:.4f} >= champion's {b:.4f} ({basis}) and within the noise bands")


def rank(metrics: Sequence[Mapping[str, float]], champion: int | None = None) -> list[tuple[int, list[str]]]:
    """Indices of ``metrics`` best first, each with its gate failures against the champion (the run
    at index ``champion``; without one, against the best-scoring run), by the rule above."""
    if not metrics:
        return []
    # ties go to the later run (runs come oldest first), as promotion lets a challenger win a tie
    order = sorted(range(len(metrics)), key=lambda i: (not has_realdev(metrics[i]), -score(metrics[i]), -i))
    ref = metrics[champion if champion is not None else order[0]]
    failures = {i: gate_failures(metrics[i], ref) for i in order}
    if has_realdev(ref):
        for i in order:
            if not has_realdev(metrics[i]):
                failures[i] = failures[i] + ["no realdev figures"]
    return sorted(((i, failures[i]) for i in order), key=lambda x: bool(x[1]))
