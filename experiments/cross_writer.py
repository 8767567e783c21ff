"""Cross-writer check: how much of a model's test score comes from having seen the test's writers.

    .venv/bin/python experiments/cross_writer.py [--family tfidf] [--groups p q r s t] [--out FILE]

The corpus was written in rounds (file prefixes ``p``, ``q``, ``r``, ``s``, ``t``), each round by its
own writers and briefs, so passages of one round share registers, stock arguments and events. For
each source group G this trains the family twice on the same corpus:

- **in-distribution**: the usual split by article; scored on the test passages that belong to G
  (G's other articles were in training);
- **held out**: every article of G in test and none in training or validation
  (``data.holdout_group=G``); scored on all of G.

Both figures are on passages of G, so their difference is what seeing G's writers was worth. Realdev
(real news, never trained on) is printed beside them for each held-out model. Nothing is logged
to MLflow; the table is printed and, with ``--out``, written as Markdown.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def subset(data, keep: np.ndarray):
    from training.data import TaskData

    idx = np.nonzero(keep)[0]
    return TaskData(ids=[data.ids[i] for i in idx], texts=[data.texts[i] for i in idx], frames=data.frames[idx],
                    stance={t: y[idx] for t, y in data.stance.items()})


def train_and_score(config, group: str | None, scored_group: str):
    from labels.splits import source_group
    from stance_model.predictor import Predictor
    from training.evaluation import evaluate_with_interval, tune
    from training.trainer import fit, load

    data = load(config)
    codebook = data.corpus.codebook
    classifier = fit(config, codebook, data)
    thresholds, _ = tune(config, classifier, data.validation)
    predictor = Predictor(classifier, codebook, thresholds)
    test = data.test if group is not None else subset(
        data.test, np.array([source_group(i) == scored_group for i in data.test.ids]))
    got, _ = evaluate_with_interval(predictor, test, "")
    out = {"n": len(test), **got}
    if group is not None and data.realdev is not None:
        rd, _ = evaluate_with_interval(predictor, data.realdev, "realdev_")
        out.update(rd)
    return out


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from training.overrides import build_config

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--family", default="tfidf", choices=["tfidf", "embeddings", "finetune"])
    parser.add_argument("--groups", nargs="+", default=["p", "q", "r", "s", "t"])
    parser.add_argument("--out", default=None, help="also write the table as Markdown to this file")
    args = parser.parse_args(argv)
    rows = [("| held-out group | passages | in-distribution stance / frames | held out stance / frames | "
            "gap stance / frames | realdev stance / frames (held-out model) |"), "|---|---:|---|---|---|---|"]
    for g in args.groups:
        t0 = time.perf_counter()
        base = {"model": {"family": args.family}, "tracking": {"register": False}}
        ind = train_and_score(build_config(base), None, g)
        held = train_and_score(build_config({**base, "data": {"holdout_group": g}}), g, g)
        gap = (held["stance_macro_f1"] - ind["stance_macro_f1"], held["frames_macro_f1"] - ind["frames_macro_f1"])
        rd = (f"{held['realdev_stance_macro_f1']:.3f} / {held['realdev_frames_macro_f1']:.3f}"
              if "realdev_stance_macro_f1" in held else "-")
        rows.append(f"| {g} | {held['n']} (in-distribution test: {ind['n']}) | {ind['stance_macro_f1']:.3f} / "
                    f"{ind['frames_macro_f1']:.3f} | {held['stance_macro_f1']:.3f} "
                    f"[{held['stance_macro_f1_ci_low']:.2f}, {held['stance_macro_f1_ci_high']:.2f}] / "
                    f"{held['frames_macro_f1']:.3f} | {gap[0]:+.3f} / {gap[1]:+.3f} | {rd} |")
        print(rows[-1], f"({time.perf_counter() - t0:.0f} s)", flush=True)
    table = "\n".join(rows)
    print(f"\n{args.family}:\n{table}")
    if args.out:
        from labels.dataset import load_corpus

        command = (f".venv/bin/python experiments/cross_writer.py --family {args.family} "
                   f"--groups {' '.join(args.groups)} --out {args.out}")
        Path(args.out).write_text(f"# Cross-writer check ({args.family})\n\n"
                                  f"Generated {time.strftime('%Y-%m-%d', time.gmtime())} by `{command}` on corpus "
                                  f"`{load_corpus().digest[:16]}`; see the script's docstring for the method.\n\n"
                                  + table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
