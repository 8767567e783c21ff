"""``in_scope`` as served against as measured at training: the int8 graph's passage features differ
a little from the fp32 ones the training run scored the detector with.

    .venv/bin/python experiments/benchmarks/in_scope.py PREDICTOR_DIR

Scores the held-out off-topic news (``labels/offtopic/c.jsonl``) and realdev with the model in fp32
and then as the service serves it (int8 when its check passed), and prints the out-of-scope rate of
the off-topic news (all, and its hard cases), the in-scope rate of realdev, and the largest score
difference between the two runtimes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from labels.realdev import default_path, load_realdev
from stance_model.predictor import Predictor
from stance_model.scope import CUT
from training.scope import HELD_OUT, OFFTOPIC_DIR, load_offtopic


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("predictor", type=Path)
    args = parser.parse_args()
    predictor = Predictor.load(args.predictor)
    if predictor.scope is None:
        print("this model has no in_scope detector")
        return 1
    off = load_offtopic(OFFTOPIC_DIR / HELD_OUT)
    hard = np.array([bool(r.get("hard")) for r in off])
    realdev = [r["text"] for r in load_realdev(default_path(), predictor.codebook).records]

    def scores(texts: list[str]) -> np.ndarray:
        return np.array([r["in_scope"] for r in predictor.predict(texts)])

    runs = {}
    for name, int8 in (("fp32", False), ("served", True)):
        applied = predictor.optimize_for_inference(int8=int8) if int8 else ["fp32"]
        runs[name] = (scores([r["text"] for r in off]), scores(realdev))
        o, rd = runs[name]
        print(f"{name} ({'; '.join(applied)[:60]}): off-topic out of scope {(o < CUT).mean():.3f} "
              f"(hard {(o[hard] < CUT).mean():.3f}), realdev in scope {(rd >= CUT).mean():.3f}")
    diff = max(float(np.abs(a - b).max()) for a, b in zip(runs["fp32"], runs["served"], strict=True))
    print(f"largest in_scope difference, fp32 against served: {diff:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
