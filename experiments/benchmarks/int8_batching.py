"""How much an int8 model's scores and decisions depend on the passages batched with each passage.

    .venv/bin/python experiments/benchmarks/int8_batching.py PREDICTOR_DIR

int8 dynamic quantisation picks one activation scale per batch tensor, so a passage's activations
are rounded differently next to different neighbours. This scores the model's test split in int8
twice, as served (length-sorted batches of 8) and one passage at a time, and prints the score
differences and how many frame and stance decisions differ. The fp32 model is batch-invariant.
PREDICTOR_DIR is a saved predictor folder (the ``predictor`` folder among a registered model's artifacts).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("predictor", type=Path)
    args = parser.parse_args()

    from training.predictor import Predictor
    from training.trainer import load

    predictor = Predictor.load(args.predictor)
    clf, codebook = predictor.classifier, predictor.codebook
    texts = load(clf.config).test.texts
    clf.optimize_for_inference(int8=True)
    batched = clf.predict_scores(texts)  # the served batching
    alone = [clf.predict_scores([t], batch_size=1) for t in texts]
    frames_alone = np.concatenate([a.frames for a in alone])
    thresholds = np.array([predictor.thresholds[f] for f in codebook.frame_ids])
    frame_diff = np.abs(batched.frames - frames_alone)
    frame_changed = int(((batched.frames >= thresholds) != (frames_alone >= thresholds)).sum())
    stance_diff, stance_changed = [], 0
    for t in codebook.target_ids:
        st_alone = np.concatenate([a.stance[t] for a in alone])
        stance_diff.append(np.abs(batched.stance[t] - st_alone))
        stance_changed += int((batched.stance[t].argmax(1) != st_alone.argmax(1)).sum())
    stance_diff = np.concatenate(stance_diff)
    print(f"{len(texts)} test passages in int8, served batches of 8 against one at a time")
    for name, d in (("frame scores", frame_diff), ("stance class probabilities", stance_diff)):
        print(f"{name}: |difference| median {np.median(d):.4f}, 99th percentile {np.percentile(d, 99):.3f}, "
              f"max {d.max():.3f}")
    print(f"decisions that differ: frames {frame_changed} of {frame_diff.size}, "
          f"stance {stance_changed} of {len(texts) * len(codebook.target_ids)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
