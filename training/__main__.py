"""Command line: ``python -m training {train,promote,sweep,search,compare}``; ``--help`` on each."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from labels.codebook import CodebookError
from labels.dataset import CorpusError
from stance_model.offline import force_offline
from training.config import ConfigError
from training.overrides import config_reference, load_config
from training.pretrained import BaseModelMissing
from training.tracking import ArtifactStoreError


def _terminate(signum, frame):
    # Turn SIGTERM into an exception so the MLflow run ends as FAILED and nothing is registered.
    raise SystemExit(128 + signum)


def cmd_train(args: argparse.Namespace, extra: list[str]) -> int:
    from training.trainer import train

    config = load_config(args.config, extra)
    result = train(config)
    m = result.metrics
    print(f"run {result.run_id}: val frames macro-F1 {m['val_frames_macro_f1']:.3f}, "
          f"val stance macro-F1 {m['val_stance_macro_f1']:.3f}, test frames macro-F1 "
          f"{m['test_frames_macro_f1']:.3f}, test stance macro-F1 {m['test_stance_macro_f1']:.3f}")
    if "realdev_stance_macro_f1" in m:
        print("realdev (real news): frames macro-F1 {:.3f} [{:.3f}, {:.3f}], stance macro-F1 {:.3f} [{:.3f}, {:.3f}]"
              .format(*(m[f"realdev_{t}_macro_f1{s}"] for t in ("frames", "stance") for s in ("", "_ci_low", "_ci_high"))))
        print("realdev stance F_avg (mean F1 of favor and against) {:.3f} [{:.3f}, {:.3f}]; test {:.3f}".format(
            *(m[f"realdev_stance_favg{s}"] for s in ("", "_ci_low", "_ci_high")), m["test_stance_favg"]))
    if "scope_offtopic_out_of_scope_rate" in m:
        print(f"in_scope: held-out off-topic news out of scope {m['scope_offtopic_out_of_scope_rate']:.3f}, "
              f"test in scope {m['scope_test_in_scope_rate']:.3f}"
              + (f", realdev in scope {m['scope_realdev_in_scope_rate']:.3f}" if "scope_realdev_in_scope_rate" in m else ""))
    if result.model_version:
        print(f"registered {config.tracking.registered_model} version {result.model_version} as 'candidate'")
    from training.tracking import run_ui_url

    print(f"in the MLflow UI (make ui): {run_ui_url(result.run_id)}")
    return 0


def cmd_promote(args: argparse.Namespace, extra: list[str]) -> int:
    from training.promote import PromotionError, promote

    try:
        result = promote(args.name, force=args.force, reason=args.reason)
    except PromotionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    state = "promoted" if result.promoted else "kept champion"
    print(f"{state}: candidate v{result.candidate}, champion before: {result.champion_before or 'none'}; "
          f"{result.reason}")
    for k, v in result.candidate_metrics.items():
        other = result.champion_metrics.get(k)
        print(f"  {k}: candidate {v:.4f}" + (f", champion {other:.4f}" if other is not None else ""))
    return 0 if result.promoted or result.champion_before == result.candidate else 3


def cmd_sweep(args: argparse.Namespace, extra: list[str]) -> int:
    from training.sweep import run_sweep

    parent, children = run_sweep(args.sweep)
    print(f"sweep parent run {parent}: {len(children)} child runs")
    return 0


def cmd_compare(args: argparse.Namespace, extra: list[str]) -> int:
    from pathlib import Path

    from training.report import write_report

    digest = None
    if not args.all_corpora:
        from labels.dataset import load_corpus

        digest = load_corpus().digest
    path = write_report(args.experiment, Path(args.out), log_run=not args.no_log, corpus_digest=digest)
    print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    force_offline()
    if argv[:1] == ["search"]:  # its own sub-commands and options
        from training.search import main as search_main

        return search_main(argv[1:])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("mlflow", "alembic", "urllib3", "httpx", "datasets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, _terminate)
    parser = argparse.ArgumentParser(prog="python -m training")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train, evaluate, log and register one model",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       usage="python -m training train [CONFIG] [--section.key=value ...]",
                       description="Train one model on the corpus, evaluate it on validation, test and realdev, "
                                   "log everything to MLflow and register it as 'candidate'.",
                       epilog="Every config key can be set in CONFIG (YAML, nested by section) or on the command "
                              "line as --section.key=value, which wins:\n\n" + config_reference()
                              + "\n\nexample: python -m training train experiments/configs/default.yaml "
                                "--train.epochs=2 --model.family=tfidf")
    t.add_argument("config", nargs="?", default=None, help="experiment YAML of overrides")
    t.set_defaults(func=cmd_train)
    p = sub.add_parser("promote", help="move the champion alias to the candidate if it wins by training/selection.py (validation and realdev)")
    p.add_argument("--name", default="stance-framing", help="registered model name")
    p.add_argument("--force", action="store_true", help="promote even if it loses (needs --reason)")
    p.add_argument("--reason", default=None)
    p.set_defaults(func=cmd_promote)
    s = sub.add_parser("sweep", help="run a grid as child runs nested under one parent run")
    s.add_argument("sweep", help="sweep YAML (base, grid, overrides)")
    s.set_defaults(func=cmd_sweep)
    sub.add_parser("search", add_help=False,
                   help="seed-replicated search over fine-tuning settings, without MLflow, on any torch device "
                        "(python -m training search --help)")
    c = sub.add_parser("compare", help="leaderboard and charts from MLflow runs into experiments/reports/")
    c.add_argument("--experiment", default="stance-framing")
    c.add_argument("--out", default="experiments/reports")
    c.add_argument("--no-log", action="store_true", help="do not log the report to an MLflow run")
    c.add_argument("--all-corpora", action="store_true",
                   help="also compare runs trained on other corpus versions (default: the current corpus only)")
    c.set_defaults(func=cmd_compare)
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "train":  # only train takes --section.key=value overrides
        print(f"error: unexpected arguments {extra}", file=sys.stderr)
        return 2
    try:
        return int(args.func(args, extra))
    except (ConfigError, CodebookError, CorpusError, BaseModelMissing, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ArtifactStoreError as exc:  # the run is already FAILED; the traceback adds nothing
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
