"""Validation, test and realdev along the weight interpolation of one fine-tune.

    .venv/bin/python experiments/interpolation_curve.py [--out FILE.jsonl] [--section.key=value ...]

Trains the configured fine-tune once (the default config plus the overrides, nothing logged to
MLflow), keeps the weights fine-tuning started from (pretrained encoder, linear-probe heads) and
the tuned ones, and for a = 1.0, 0.9, ... 0.5 scores ``(1 - a) * start + a * tuned`` the way a run
scores its model (calibrated on validation, thresholds tuned on validation): frames and stance
macro-F1 on validation, test and realdev, realdev stance with its 90% bootstrap interval. It also
prints which a the run's own rule (``train.interpolation_min``, ``train.interpolation_band``)
chose and the mean of the last three epochs' weights, for comparison. Realdev is printed to show
what the interpolation does to real news; it is never used to choose.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="append one JSON line per setting to this file")
    args, extra = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    from stance_model.offline import force_offline
    from stance_model.predictor import Predictor
    from training.evaluation import evaluate_with_interval, tune
    from training.models import family_class
    from training.models.finetune import interpolated
    from training.overrides import load_config
    from training.trainer import load

    force_offline()
    config = load_config(Path(__file__).resolve().parent / "configs" / "default.yaml", extra)
    data = load(config)
    codebook = data.corpus.codebook
    clf = family_class("finetune")(codebook, config)
    kept: dict[str, dict] = {}
    epochs: dict[int, dict] = {}
    interpolate = clf.interpolate

    def keep_tuned(start, validation):
        kept["start"], kept["tuned"] = start, copy.deepcopy(clf.model.state_dict())
        return interpolate(start, validation)

    clf.interpolate = keep_tuned
    clf.fit(data.train, data.validation,
            on_epoch=lambda epoch, metrics: epochs.__setitem__(epoch, copy.deepcopy(clf.model.state_dict())))
    if "tuned" not in kept:
        raise SystemExit("train.interpolation_min=1 turns the interpolation off; nothing to trace")
    print(f"the run's rule kept a = {clf.fit_metrics['interpolation_alpha']:.1f}; best epoch {clf.best_epoch}")

    def measure(name: str, state: dict) -> None:
        clf.model.load_state_dict(state)
        clf.model.eval()
        clf.calibrate(data.validation)
        thresholds, val_scores = tune(config, clf, data.validation)
        predictor = Predictor(clf, codebook, thresholds, meta={})
        row: dict = {"setting": name, "config": extra}
        for split, prefix, d in data.eval_splits():
            got, _ = evaluate_with_interval(predictor, d, prefix, val_scores if split == "validation" else None)
            row.update({f"{prefix}{t}": round(got[f"{prefix}{t}_macro_f1"], 4) for t in ("frames", "stance")})
            if prefix == "realdev_":
                row["realdev_stance_ci"] = [round(got[f"realdev_stance_macro_f1_ci_{s}"], 3) for s in ("low", "high")]
        print(json.dumps(row), flush=True)
        if args.out:
            with args.out.open("a") as f:
                f.write(json.dumps(row) + "\n")

    start, tuned = kept["start"], kept["tuned"]
    for alpha in (1.0, 0.9, 0.8, 0.7, 0.6, 0.5):
        measure(f"a={alpha}", interpolated(start, tuned, alpha))
    last = sorted(epochs)[-3:]
    measure(f"mean of epochs {last}", {k: sum(epochs[e][k] for e in last) / len(last) if v.is_floating_point() else v
                                       for k, v in tuned.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
