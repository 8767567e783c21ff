"""Seed-replicated search over fine-tuning settings, without MLflow, on any torch device.

One fine-tune on the corpus is a single noisy draw: the validation split has 286 passages and its
stance F1 rests on a few dozen favor/against examples per target. This script trains every named
setting with several seeds and reports means and spreads, so a setting is chosen on its average
validation score rather than on one lucky run. It runs the project's own ``FinetuneClassifier``,
threshold tuning and metrics, exactly as ``python -m training train`` does, minus the tracking.

It needs no accelerator, but on a CPU each run takes minutes; it was written to run the search on
a lent GPU, where ``prepare`` packs what the runs need (encoded splits and the base encoder)
into a folder that travels without the virtual environment::

    python -m training search prepare .search            # here: splits + encoder (fp16 weights)
    python -m training search run .search experiments/search/stage1.yaml --device cuda --workers 6 \\
        --out results.jsonl                                 # there (or here with --device cpu)
    python -m training search report results.jsonl       # table sorted by mean validation score

The search file lists named settings as dotted overrides of the default config::

    seeds: [1, 2, 3]
    settings:
      default: {}
      freeze2: {model.freeze_layers: 2, train.epochs: 8}

Weights travel as fp16 (the full fp32 encoder is larger than what the device call carries) and
are widened back to fp32 before training, so the search's runs start from weights rounded to
fp16: close to, not bit-identical with, the CPU default runs.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import pickle
import shutil
import statistics
import time
import traceback
from pathlib import Path
from typing import Any

import yaml

from stance_model.project import REPO_ROOT

WEIGHTS = "model.safetensors"


def _copy_encoder(src: Path, dest: Path, dtype: Any) -> None:
    """Config and tokenizer files as they are, the weights cast to ``dtype``."""
    from safetensors.torch import load_file, save_file

    dest.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.is_file() and f.name != WEIGHTS and f.suffix in (".json", ".txt"):
            shutil.copy(f, dest / f.name)
    weights = load_file(src / WEIGHTS)
    save_file({k: v.to(dtype) if v.is_floating_point() else v for k, v in weights.items()}, dest / WEIGHTS)


def prepare(dest: Path, config: Any = None) -> None:
    """Write ``splits.pkl`` (the encoded splits of ``config``'s corpus) and ``encoder-fp16``."""
    import tempfile

    import torch

    from training.config import ExperimentConfig
    from training.pretrained import encoder_dir
    from training.trainer import load

    config = config or ExperimentConfig()
    dest.mkdir(parents=True, exist_ok=True)
    data = load(config)
    with open(dest / "splits.pkl", "wb") as fh:
        pickle.dump({"train": data.train, "validation": data.validation, "test": data.test,
                     "digest": data.corpus.digest}, fh)
    with tempfile.TemporaryDirectory() as tmp:
        _copy_encoder(encoder_dir(config.model.base_model, Path(tmp), config.train.seed), dest / "encoder-fp16", torch.float16)
    print(f"{dest}: {len(data.train)}/{len(data.validation)}/{len(data.test)} passages, corpus {data.corpus.digest[:12]}")


def widen(folder: Path) -> Path:
    """An fp32 copy of the fp16 encoder in ``folder/encoder-fp16``, in the temporary directory (not
    in ``folder``, which must stay small enough to travel)."""
    import hashlib
    import tempfile

    import torch

    key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]
    out = Path(tempfile.gettempdir()) / f"stance-search-{key}" / "encoder-fp32"
    if not (out / WEIGHTS).exists():
        tmp = out.with_name("encoder-fp32.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        _copy_encoder(folder / "encoder-fp16", tmp, torch.float32)
        tmp.rename(out)
    return out


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    import torch

    from labels.codebook import load_codebook
    from stance_model.predictor import Predictor
    from training.evaluation import evaluate, tune
    from training.models.finetune import FinetuneClassifier
    from training.overrides import build_config, nest_dotted

    torch.set_num_threads(job["threads"])
    with open(job["splits"], "rb") as fh:
        splits = pickle.load(fh)
    overrides = nest_dotted({**job["overrides"], "train.seed": job["seed"], "train.device": job["device"],
                       "model.base_model": job["encoder"], "tracking.register": False})
    config = build_config(overrides)
    codebook = load_codebook(REPO_ROOT / "labels" / "codebook.yaml")
    curves: list[dict[str, float]] = []
    start = time.perf_counter()
    clf = FinetuneClassifier(codebook, config)
    keep = ("train_loss", "val_frames_macro_f1", "val_stance_macro_f1", "val_selection_score")
    clf.fit(splits["train"], splits["validation"],
            on_epoch=lambda e, m: curves.append({"epoch": e, **{k: m[k] for k in keep if k in m}}))
    fit_s = time.perf_counter() - start
    thresholds, val_scores = tune(config, clf, splits["validation"])
    predictor = Predictor(clf, codebook, thresholds)
    result = {"setting": job["setting"], "seed": job["seed"], "overrides": job["overrides"], "fit_s": fit_s,
              "best_epoch": clf.best_epoch, "device": job["device"], "curves": curves}
    saved = {}
    for prefix, split, scores in (("val_", splits["validation"], val_scores), ("test_", splits["test"], None)):
        metrics, scores = evaluate(predictor, split, prefix, scores)
        result.update({k: v for k, v in metrics.items() if k.endswith(("macro_f1", "favg"))})
        saved[prefix + "frames"] = scores.frames
        saved.update({f"{prefix}stance_{t}": p for t, p in scores.stance.items()})
    if job.get("scores_dir"):  # per-passage scores, for ensembles and error analysis afterwards
        import numpy as np

        Path(job["scores_dir"]).mkdir(parents=True, exist_ok=True)
        np.savez_compressed(Path(job["scores_dir"]) / f"{job['setting']}-{job['seed']}.npz",
                            thresholds=np.array([thresholds[f] for f in codebook.frame_ids]), **saved)
    return result


def _worker(job: dict[str, Any]) -> dict[str, Any]:
    try:
        return run_one(job)
    except Exception:  # noqa: BLE001 - one failed setting must not end the search: record it and go on
        return {"setting": job["setting"], "seed": job["seed"], "error": traceback.format_exc()}


def run(folder: Path, spec_path: Path, device: str, workers: int, threads: int, out: Path, only: list[str],
        scores_dir: Path | None = None) -> None:
    spec = yaml.safe_load(spec_path.read_text())
    encoder = widen(folder)
    done = set()
    if out.exists():
        for line in out.read_text().splitlines():
            r = json.loads(line)
            if "error" not in r:
                done.add((r["setting"], r["seed"]))
    jobs = [{"setting": name, "overrides": dict(overrides or {}), "seed": seed, "device": device,
             "threads": threads, "splits": str(folder / "splits.pkl"), "encoder": str(encoder),
             "scores_dir": str(scores_dir) if scores_dir else None}
            for name, overrides in spec["settings"].items() if not only or name in only
            for seed in spec["seeds"] if (name, seed) not in done]
    print(f"{len(jobs)} runs on {device} with {workers} workers", flush=True)
    ctx = mp.get_context("spawn")
    with ctx.Pool(workers, maxtasksperchild=1) as pool, open(out, "a") as fh:
        for r in pool.imap_unordered(_worker, jobs):
            fh.write(json.dumps(r) + "\n")
            fh.flush()
            if "error" in r:
                print(f"FAILED {r['setting']} seed {r['seed']}: {r['error'].splitlines()[-1]}", flush=True)
            else:
                print(f"{r['setting']:<28} seed {r['seed']}: val {r['val_frames_macro_f1']:.3f}/"
                      f"{r['val_stance_macro_f1']:.3f} test {r['test_frames_macro_f1']:.3f}/"
                      f"{r['test_stance_macro_f1']:.3f} epoch {r['best_epoch']} {r['fit_s']:.0f}s", flush=True)


def _mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else math.nan
    return f"{statistics.mean(values):.3f} ± {sd:.3f}"


def report(paths: list[Path]) -> str:
    rows: dict[str, list[dict[str, Any]]] = {}
    for path in paths:
        for line in path.read_text().splitlines():
            r = json.loads(line)
            if "error" not in r:
                rows.setdefault(r["setting"], []).append(r)
    scored = []
    for name, runs in rows.items():
        sel = [(r["val_frames_macro_f1"] + r["val_stance_macro_f1"]) / 2 for r in runs]
        scored.append((statistics.mean(sel), name, runs))
    scored.sort(reverse=True)
    lines = ["| setting | runs | val selection | val frames | val stance | test frames | test stance | best epoch | overrides |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for mean_sel, name, runs in scored:
        def col(key: str, runs: list[dict[str, Any]] = runs) -> str:
            return _mean_sd([r[key] for r in runs])
        epochs = ",".join(str(r["best_epoch"]) for r in sorted(runs, key=lambda r: r["seed"]))
        overrides = ", ".join(f"{k}={v}" for k, v in runs[0]["overrides"].items()) or "(defaults)"
        lines.append(f"| {name} | {len(runs)} | {mean_sel:.3f} | {col('val_frames_macro_f1')} | "
                     f"{col('val_stance_macro_f1')} | {col('test_frames_macro_f1')} | {col('test_stance_macro_f1')} | "
                     f"{epochs} | {overrides} |")
    return "\n".join(lines)


def ensembles(folder: Path, scores_dir: Path) -> str:
    """Single runs against averaged-probability ensembles of the same setting's seeds.

    Reads the ``--scores`` files of ``run``. A single run is scored with its own thresholds;
    ensemble frame thresholds are re-tuned on the averaged validation scores, and stance is the
    argmax of the averaged class probabilities."""
    import itertools

    import numpy as np

    from labels.codebook import load_codebook
    from training.metrics import evaluate_arrays
    from training.thresholds import tune_thresholds

    codebook = load_codebook(REPO_ROOT / "labels" / "codebook.yaml")
    with open(folder / "splits.pkl", "rb") as fh:
        splits = pickle.load(fh)
    runs: dict[str, list[dict[str, Any]]] = {}
    for f in sorted(scores_dir.glob("*.npz")):
        setting, _, _seed = f.stem.rpartition("-")
        runs.setdefault(setting, []).append(dict(np.load(f)))

    def score(members: list[dict[str, Any]], prefix: str) -> tuple[float, float]:
        data = splits["validation" if prefix == "val_" else "test"]
        if len(members) == 1:  # a run alone keeps the thresholds it was tuned with (a calibrated
            th = members[0]["thresholds"]  # run tuned them on its own mapped grid)
        else:
            val_frames = np.mean([m["val_frames"] for m in members], axis=0)
            tuned = tune_thresholds(splits["validation"].frames, val_frames, codebook.frame_ids)
            th = np.array([tuned[f] for f in codebook.frame_ids])
        frames = np.mean([m[prefix + "frames"] for m in members], axis=0)
        decided = (frames >= th).astype(int)
        stance = {t: np.mean([m[f"{prefix}stance_{t}"] for m in members], axis=0).argmax(1)
                  for t in codebook.target_ids}
        m = evaluate_arrays(codebook, data.frames, decided, data.stance, stance, prefix="")
        return m["frames_macro_f1"], m["stance_macro_f1"]

    def cell(groups: list[list[dict[str, Any]]]) -> str:
        val = [score(g, "val_") for g in groups]
        test = [score(g, "test_") for g in groups]
        vf, vs, tf, ts = (statistics.mean(x[i] for x in split) for split in (val, test) for i in (0, 1))
        return f"{vf:.3f} / {vs:.3f}, {tf:.3f} / {ts:.3f}"

    lines = ["Each cell: validation frames / stance macro-F1, test frames / stance macro-F1.", "",
             "| setting | seeds | single runs (mean) | two-seed ensembles (mean over all pairs) | all seeds averaged |",
             "|---|---:|---|---|---|"]
    for name, members in sorted(runs.items()):
        pairs = [list(p) for p in itertools.combinations(members, 2)]
        lines.append(f"| {name} | {len(members)} | {cell([[m] for m in members])} | "
                     f"{cell(pairs) if pairs else '-'} | {cell([members])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training search", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare", help="pack the encoded splits and the base encoder into a folder")
    p.add_argument("folder", type=Path)
    r = sub.add_parser("run", help="train every setting x seed of a search file")
    r.add_argument("folder", type=Path)
    r.add_argument("spec", type=Path)
    r.add_argument("--device", default="cpu")
    r.add_argument("--workers", type=int, default=1)
    r.add_argument("--threads", type=int, default=2, help="torch threads per worker")
    r.add_argument("--out", type=Path, required=True, help="JSON lines; runs already in it are skipped")
    r.add_argument("--only", nargs="*", default=[], help="run only these settings")
    r.add_argument("--scores", type=Path, help="also save each run's validation and test scores here (.npz)")
    s = sub.add_parser("report", help="mean and spread per setting, sorted by mean validation score")
    s.add_argument("results", type=Path, nargs="+")
    e = sub.add_parser("ensembles", help="single runs against seed ensembles, from the saved scores")
    e.add_argument("folder", type=Path, help="the prepared folder (for the labels of the splits)")
    e.add_argument("scores", type=Path, help="folder of the .npz files written by run --scores")
    args = parser.parse_args(argv)
    if args.cmd == "prepare":
        prepare(args.folder)
    elif args.cmd == "run":
        run(args.folder, args.spec, args.device, args.workers, args.threads, args.out, args.only, args.scores)
    elif args.cmd == "ensembles":
        print(ensembles(args.folder, args.scores))
    else:
        print(report(args.results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
