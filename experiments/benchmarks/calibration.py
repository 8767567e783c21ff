"""How well a fine-tuned model's scores work as probabilities, before and after temperature scaling.

    .venv/bin/python experiments/benchmarks/calibration.py PREDICTOR_DIR

PREDICTOR_DIR is a saved predictor folder (for a registered model, the ``predictor`` folder among
its artifacts). The temperatures are refitted on the validation split, as training does with
``train.calibrate``, and both versions are scored on validation and test: log loss, expected
calibration error (ECE, 10 equal-width bins; for frames over every (passage, frame) probability,
for stance over the top class of every (passage, target)), and whether any decision changed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def ece(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        sel = idx == b
        if sel.any():
            total += sel.mean() * abs(confidence[sel].mean() - correct[sel].mean())
    return float(total)


def measures(scores, data, codebook) -> dict[str, float]:
    eps = 1e-7
    p = np.clip(scores.frames.astype(np.float64), eps, 1 - eps)
    y = data.frames
    frame_nll = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    frame_ece = ece(p.ravel(), y.ravel().astype(float))
    probs = np.concatenate([scores.stance[t] for t in codebook.target_ids]).astype(np.float64)
    labels = np.concatenate([data.stance[t] for t in codebook.target_ids])
    stance_nll = float(-np.mean(np.log(np.clip(probs[np.arange(len(labels)), labels], eps, 1.0))))
    stance_ece = ece(probs.max(1), (probs.argmax(1) == labels).astype(float))
    return {"frames log loss": frame_nll, "frames ECE": frame_ece, "stance log loss": stance_nll,
            "stance ECE": stance_ece}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("predictor", type=Path)
    args = parser.parse_args()

    from stance_model.predictor import Predictor
    from training.thresholds import temper
    from training.trainer import load

    predictor = Predictor.load(args.predictor)
    clf = predictor.classifier
    if clf.family != "finetune":
        print(f"calibration applies to fine-tuned models; this one is {clf.family}", file=sys.stderr)
        return 2
    data = load(clf.config)
    codebook = predictor.codebook
    rows = {}
    saved = clf.model.temperature.clone()
    clf.model.temperature.fill_(1.0)
    raw = {s: clf.predict_scores(getattr(data, s).texts) for s in ("validation", "test")}
    temps = clf.calibrate(data.validation)
    cal = {s: clf.predict_scores(getattr(data, s).texts) for s in ("validation", "test")}
    raw_thr = np.array([predictor.thresholds[f] for f in codebook.frame_ids])
    cal_thr = temper(raw_thr, temps[0])  # the raw thresholds mapped as training's tuning maps its grid
    changed = 0
    for s in ("validation", "test"):
        rows[f"{s}, raw"] = measures(raw[s], getattr(data, s), codebook)
        rows[f"{s}, calibrated"] = measures(cal[s], getattr(data, s), codebook)
        changed += int(((raw[s].frames >= raw_thr) != (cal[s].frames >= cal_thr)).sum())
        changed += sum(int((raw[s].stance[t].argmax(1) != cal[s].stance[t].argmax(1)).sum()) for t in codebook.target_ids)
    clf.model.temperature.copy_(saved)
    print(f"model {args.predictor}; saved temperatures {saved.tolist()}; refitted on validation: "
          f"frames {temps[0]:.2f}, stance {temps[1]:.2f}")
    keys = list(next(iter(rows.values())))
    print("| scores | " + " | ".join(keys) + " |")
    print("|---|" + "---:|" * len(keys))
    for name, m in rows.items():
        print(f"| {name} | " + " | ".join(f"{m[k]:.3f}" for k in keys) + " |")
    print(f"decisions changed by calibration (frames and stance, validation and test): {changed}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
