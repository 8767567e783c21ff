"""Does a passage get the same answer whatever it is batched with? And what does int8 cost and buy?

    .venv/bin/python experiments/benchmarks/int8_batching.py PREDICTOR_DIR

For the fp32 model and the int8 model as served (one passage per forward pass), scores the test
split and realdev one passage at a time, in shuffled batches of 8 and 32, and each passage beside
a much longer one (padding), and prints the largest score difference and the decisions that
differ. For contrast it also runs int8 in batches of 8 (activation scales shared by the batch:
how int8 was served before). Then macro-F1 of fp32 and int8 on both sets, the share of decisions
int8 changes, and passages/s of each path on this machine. PREDICTOR_DIR is a saved predictor
folder (the ``artifacts/predictor`` folder of a registered model's copy).
"""

from __future__ import annotations

import argparse
import copy
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from stance_model.predictor import score_rows

LONG = " ".join(["The delegation went through every clause of the draft in turn and took questions on each."] * 10)


def decisions(predictor, r: np.ndarray) -> np.ndarray:
    nf = len(predictor.codebook.frame_ids)
    nl = len(predictor.codebook.stance_labels)
    frames = predictor.decide_frames(r[:, :nf])
    stance = [r[:, nf + k * nl: nf + (k + 1) * nl].argmax(1) for k in range((r.shape[1] - nf) // nl)]
    return np.concatenate([frames.astype(int), np.stack(stance, 1)], axis=1)


def grouped(clf, texts: list[str], size: int, seed: int = 0, batch_size: int | None = None) -> np.ndarray:
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    out = None
    for i in range(0, len(order), size):
        idx = order[i:i + size]
        r = score_rows(clf.predict_scores([texts[j] for j in idx], batch_size=batch_size))
        out = np.zeros((len(texts), r.shape[1]), dtype=r.dtype) if out is None else out
        out[idx] = r
    return out


def invariance(name: str, predictor, clf, texts: list[str], batch_size: int | None = None) -> None:
    alone = np.concatenate([score_rows(clf.predict_scores([t], batch_size=batch_size)) for t in texts])
    ref = decisions(predictor, alone)
    for label, got in (("shuffled batches of 8", grouped(clf, texts, 8, batch_size=batch_size)),
                       ("shuffled batches of 32", grouped(clf, texts, 32, 1, batch_size=batch_size)),
                       ("beside a long passage", np.concatenate(
                           [score_rows(clf.predict_scores([t, LONG], batch_size=batch_size))[:1] for t in texts]))):
        d = np.abs(got - alone)
        changed = int((decisions(predictor, got) != ref).sum())
        print(f"| {name} | {label} | {d.max():.2e} | {'yes' if d.max() == 0 else 'no'} | {changed} of {ref.size} |")


def rate(clf, texts: list[str], repeats: int = 3, batch_size: int | None = None) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        clf.predict_scores(texts, batch_size=batch_size)
        times.append(time.perf_counter() - t)
    return len(texts) / statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("predictor", type=Path)
    parser.add_argument("--sample", type=int, default=200, help="passages per set for the invariance table")
    args = parser.parse_args()

    import torch

    from stance_model.predictor import Predictor
    from training.data import load_realdev_data
    from training.metrics import evaluate_arrays
    from training.trainer import load

    predictor = Predictor.load(args.predictor)
    fp32 = predictor.classifier
    int8 = copy.deepcopy(fp32)
    runtime = int8.optimize_for_inference(int8=True)[-1]
    torch_int8 = copy.deepcopy(fp32)  # torch dynamic int8: the fallback, and (batched) the old way
    torch_int8.int8_graph = None
    torch_int8.optimize_for_inference(int8=True)
    fp32.optimize_for_inference(int8=False)
    data = load(fp32.config)
    sets = {"test": data.test}
    realdev, _ = load_realdev_data("auto", predictor.codebook)
    if realdev is not None:
        sets["realdev"] = realdev
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    print(f"Model {args.predictor}; {cpu}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"int8 as served: {runtime}\n")
    print("| model | grouping (against each passage alone) | max abs score difference | identical | "
          "decisions that differ |")
    print("|---|---|---:|---|---:|")
    sample = [t for d in sets.values() for t in d.texts[: args.sample]]
    invariance("fp32", predictor, fp32, sample)
    invariance("int8 as served", predictor, int8, sample)
    invariance("torch int8, one passage per pass (fallback)", predictor, torch_int8, sample)
    invariance("torch int8 in batches of 8 (before)", predictor, torch_int8, sample, batch_size=8)

    print("\n| set | fp32 frames / stance macro-F1 | int8 frames / stance | decisions int8 changes |")
    print("|---|---|---|---:|")
    for name, d in sets.items():
        out = []
        for clf in (fp32, int8):
            r = score_rows(clf.predict_scores(d.texts))
            out.append(r)
        m = [evaluate_arrays(predictor.codebook, d.frames, decisions(predictor, r)[:, :len(predictor.codebook.frame_ids)],
                             d.stance, {t: decisions(predictor, r)[:, len(predictor.codebook.frame_ids) + k]
                                        for k, t in enumerate(sorted(d.stance))}, prefix="") for r in out]
        changed = float((decisions(predictor, out[0]) != decisions(predictor, out[1])).mean())
        print(f"| {name} ({len(d)}) | {m[0]['frames_macro_f1']:.4f} / {m[0]['stance_macro_f1']:.4f} | "
              f"{m[1]['frames_macro_f1']:.4f} / {m[1]['stance_macro_f1']:.4f} | {100 * changed:.2f}% |")

    texts = data.test.texts[:128]
    print(f"\nPassages/s over {len(texts)} test passages, median of 3, in process:")
    for threads in (1, torch.get_num_threads()):
        torch.set_num_threads(threads)
        print(f"- torch at {threads} thread(s): fp32 batches of 8 {rate(fp32, texts):.1f}; int8 one passage per pass "
              f"{rate(torch_int8, texts):.1f}; int8 batches of 8 (not invariant) "
              f"{rate(torch_int8, texts, batch_size=8):.1f}")
    print(f"- int8 as served, one passage per run on one thread: {rate(int8, texts):.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
