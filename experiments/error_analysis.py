"""What the model misreads: realdev and test confusions per target and the most confident errors.

    .venv/bin/python experiments/error_analysis.py [MODEL] [--top 10] [--split realdev test]

MODEL is a registered model URI (default ``models:/stance-framing@champion`` on the configured
MLflow store) or a saved predictor folder. Realdev comes from ``STANCE_REALDEV`` or
``../shared/realdev/passages.jsonl``; test is the current corpus's test split. For each split and
target it prints the stance confusion matrix (rows gold, columns predicted) with macro-F1 and the
count of direction errors (favor read as against or the reverse), then the frames' errors, then
the ``--top`` errors the model was surest of, each with its text, gold and predicted labels.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def load_predictor(model: str, tmp: Path):
    from stance_model.predictor import Predictor

    if Path(model).is_dir():
        return Predictor.load(model)
    from training import tracking

    tracking.configure()
    return Predictor.load(tracking.download_predictor(model, tmp))


def split_data(name: str, codebook):
    from training.data import load_realdev_data, to_task_data

    if name == "realdev":
        data, _ = load_realdev_data("auto", codebook)
        if data is None:
            raise SystemExit("realdev not found: set STANCE_REALDEV or put it at ../shared/realdev/passages.jsonl")
        return data
    from labels.dataset import load_corpus

    return to_task_data(load_corpus(codebook=codebook).splits[name], codebook)


def report(name: str, predictor, data, top: int) -> None:
    from training.metrics import evaluate_arrays

    cb = predictor.codebook
    labels = cb.stance_labels
    scores = predictor.scores(data.texts)
    frames_pred = predictor.decide_frames(scores.frames).astype(int)
    m = evaluate_arrays(cb, data.frames, frames_pred, data.stance, scores.stance_argmax(), prefix="")
    print(f"\n=== {name}: {len(data)} passages; frames macro-F1 {m['frames_macro_f1']:.3f}, "
          f"stance macro-F1 {m['stance_macro_f1']:.3f}")
    errors = []
    for t in cb.target_ids:
        gold, probs = data.stance[t], scores.stance[t]
        pred = probs.argmax(1)
        conf = np.zeros((len(labels), len(labels)), dtype=int)
        for g, p in zip(gold, pred, strict=True):
            conf[g, p] += 1
        polar = [labels.index(x) for x in ("favor", "against") if x in labels]
        swaps = sum(conf[a, b] for a in polar for b in polar if a != b)
        print(f"\n{t}: macro-F1 {m[f'stance_{t}_macro_f1']:.3f}; direction errors {swaps}")
        print("gold \\ predicted " + "".join(f"{x:>10}" for x in labels))
        for i, x in enumerate(labels):
            print(f"{x:>17}" + "".join(f"{conf[i, j]:>10}" for j in range(len(labels))))
        for i in np.nonzero(pred != gold)[0]:
            errors.append((float(probs[i, pred[i]]), i, (f"{t}: gold {labels[gold[i]]}, predicted "
                           f"{labels[pred[i]]} ({probs[i, pred[i]]:.2f})")))
    print()
    for j, f in enumerate(cb.frame_ids):
        fn = int(((data.frames[:, j] == 1) & (frames_pred[:, j] == 0)).sum())
        fp = int(((data.frames[:, j] == 0) & (frames_pred[:, j] == 1)).sum())
        print(f"frame {f}: F1 {m[f'frame_{f}_f1']:.3f}, missed {fn}, false alarms {fp}")
        for i in np.nonzero(data.frames[:, j] != frames_pred[:, j])[0]:
            s = float(scores.frames[i, j])
            errors.append((max(s, 1 - s), i, f"frame {f}: gold {bool(data.frames[i, j])}, score {s:.2f}"))
    print(f"\nThe {top} most confident errors on {name}:")
    for k, (_, i, what) in enumerate(sorted(errors, key=lambda e: -e[0])[:top], start=1):
        print(f"{k:>2}. [{data.ids[i]}] {what}")
        print(textwrap.indent(textwrap.fill(data.texts[i], 100), "      "))


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", nargs="?", default="models:/stance-framing@champion")
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--split", nargs="+", default=["realdev", "test"], choices=["realdev", "test", "validation"])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        predictor = load_predictor(args.model, Path(tmp))
        print(f"model: {args.model} ({predictor.meta.get('family')}, run {predictor.meta.get('run_name', '?')})")
        for name in args.split:
            report(name, predictor, split_data(name, predictor.codebook), args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
