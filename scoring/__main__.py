"""``python -m scoring score INPUT --out DIR``: label every article of a JSONL, CSV or Parquet file.

The model is what the service would serve (``STANCE_MODEL_URI``, default the registered champion,
loaded and checked the same way, int8 when its training check passed). Exit 0 when every record
was scored or rejected (``DIR/rejects.jsonl`` says why), 2 on an unusable input or output, 3
when no model can be loaded.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scoring")
    sub = parser.add_subparsers(dest="command", required=True)
    score = sub.add_parser("score", help="score a file of articles into an output folder (resumable)")
    score.add_argument("input", type=Path, help="articles: .jsonl, .csv or .parquet with id, text and optional "
                                                "title, published (ISO date) and source")
    score.add_argument("--out", type=Path, required=True, help="output folder: passages/, articles/, rejects.jsonl, "
                                                               "summary.json; a rerun skips what it holds")
    score.add_argument("--format", choices=("parquet", "jsonl"), default="parquet", help="part file format")
    score.add_argument("--model-uri", help="registered model (default STANCE_MODEL_URI, else the champion)")
    score.add_argument("--targets", nargs="+", help="stance targets (default: every codebook target)")
    score.add_argument("--chunk", type=int, help="articles per part file (default 64; with --engine spark 1024, "
                                                 "each chunk being one Spark job)")
    score.add_argument("--no-evidence-sentences", action="store_true",
                       help="cite passages only; skip labelling their sentences (with them, articles took 1.8x "
                            "as long: experiments/benchmarks/EVIDENCE.md)")
    score.add_argument("--quiet", action="store_true", help="no progress bar")
    score.add_argument("--engine", choices=("local", "spark"), default="local",
                       help="local: this process; spark: chunks partitioned over Spark executors (mapInPandas)")
    score.add_argument("--master", help="Spark master for --engine spark (default: what spark-submit set, else "
                                        "local[*])")
    tl = sub.add_parser("timeline", help="frame shares and stance per period from a scored folder: CSV and PNG")
    tl.add_argument("scored", type=Path, help="a folder written by 'score'")
    tl.add_argument("--by", choices=("day", "week", "month"), default="week", help="period (weeks start on Monday)")
    tl.add_argument("--split-by-source", action="store_true", help="one row per period and source")
    tl.add_argument("--csv", type=Path, help="table path (default SCORED/timeline-BY.csv)")
    tl.add_argument("--png", type=Path, help="chart path (default SCORED/timeline-BY.png)")
    tl.add_argument("--run-id", help="also log the table and chart to this MLflow run (MLFLOW_TRACKING_URI's store)")
    return parser


def cmd_score(args: argparse.Namespace) -> int:
    from scoring.inputs import InputError, input_format
    from scoring.local import score_file
    from scoring.output import OutputDir, OutputError
    from serving.config import get_settings
    from serving.model import ModelLoadError, ModelStore
    from stance_model.offline import force_offline
    from stance_model.predictor import UnknownTargetError

    force_offline()
    settings = get_settings()
    args.chunk = args.chunk or (1024 if args.engine == "spark" else 64)
    if args.chunk < 1:
        print("error: --chunk must be at least 1", file=sys.stderr)
        return 2
    try:
        input_format(args.input)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        model = ModelStore(args.model_uri or settings.model_uri, settings.tracking_uri, settings.cache_dir,
                           int8=settings.int8).load(allow_cache=True)
    except ModelLoadError as exc:
        print(f"error: no model to score with: {exc}", file=sys.stderr)
        return 3
    try:
        model.predictor.check_targets(args.targets)
        out = OutputDir(args.out, args.format, model.digest or "")
        scorer = None
        if args.engine == "spark":
            from scoring.spark import SparkScorer

            scorer = SparkScorer(model, args.model_uri or settings.model_uri, settings.tracking_uri,
                                 str(settings.cache_dir), settings.int8, args.targets, not args.no_evidence_sentences,
                                 settings.max_article_passages, master=args.master)
        try:
            summary = score_file(model, args.input, out, targets=args.targets, chunk=args.chunk,
                                 evidence_sentences=not args.no_evidence_sentences,
                                 max_chars=settings.max_article_chars, max_passages=settings.max_article_passages,
                                 progress=not args.quiet, scorer=scorer)
        finally:
            if scorer is not None:
                scorer.stop()
    except (UnknownTargetError, OutputError, InputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0


def cmd_timeline(args: argparse.Namespace) -> int:
    from scoring.timeline import TimelineError, chart, timeline

    try:
        table, counts = timeline(args.scored, args.by, args.split_by_source)
    except TimelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    csv_path = args.csv or args.scored / f"timeline-{args.by}.csv"
    png_path = args.png or args.scored / f"timeline-{args.by}.png"
    table.to_csv(csv_path, index=False)
    chart(table, png_path, args.by)
    print(f"{len(table)} rows from {counts['articles']} articles ({counts['undated']} without a date, left out) "
          f"and {counts['passages']} passages: {csv_path}, {png_path}")
    if args.run_id:
        from training import tracking

        try:
            tracking.configure()
            tracking.log_files_to_run(args.run_id, [csv_path, png_path], "timeline")
        except Exception as exc:  # noqa: BLE001 - MLflow raises several types for an unknown run or a dead store
            print(f"error: the timeline was written but not logged to run {args.run_id}: {exc}", file=sys.stderr)
            return 3
        print(f"logged to run {args.run_id} under timeline/")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    return cmd_score(args) if args.command == "score" else cmd_timeline(args)


if __name__ == "__main__":
    sys.exit(main())
