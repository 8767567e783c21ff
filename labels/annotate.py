"""``python -m labels annotate select|export|import``: the annotation loop.

``select`` picks the passages to annotate next (corrections first, then the champion's least sure
passages, no near-duplicates) into a batch file; ``export`` turns a batch into a Label Studio project
(and can create it through the API); ``import`` reads Label Studio's JSON export back into a new
corpus file, or writes nothing. Exit codes: 0 done, 1 nothing usable (every task rejected, the
corpus would not validate), 2 bad arguments or inputs, 3 no model or no Label Studio.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from labels.codebook import load_codebook
from labels.realdev import RealdevError, default_path, load_realdev

REPO_ROOT = Path(__file__).resolve().parents[1]
ANNOTATE_DIR = REPO_ROOT / "var" / "annotate"  # git-ignored
MAX_ARTICLE_CHARS = 200_000  # batch scoring's default limit: a longer record is rejected, not truncated


def add_parser(sub: Any) -> None:
    """Register ``annotate`` and its three commands on the ``python -m labels`` sub-parsers."""
    ann = sub.add_parser("annotate", help="the annotation loop: select, export to Label Studio, import")
    steps = ann.add_subparsers(dest="step", required=True)
    s = steps.add_parser("select", help="choose the passages to annotate next into a batch file")
    s.add_argument("input", nargs="?", type=Path, help="articles or passages (.jsonl, .csv, .parquet: id, text, "
                                                       "optional title and published); none: corrections only")
    s.add_argument("-n", "--size", type=int, default=50, help="passages in the batch (corrections count)")
    s.add_argument("--queue", type=Path, help="corrections queue: a .jsonl or a folder (default labels/queue/)")
    s.add_argument("--out", type=Path, help="batch file (default var/annotate/batch-<UTC time>.jsonl)")
    s.add_argument("--model-uri", help="registered model (default STANCE_MODEL_URI, else "
                                       "models:/stance-framing@champion)")
    s.add_argument("--tracking-uri", help="MLflow tracking URI (default MLFLOW_TRACKING_URI)")
    s.add_argument("--realdev", type=Path, default=None, help="realdev passages, never to be annotated again")
    s.add_argument("--max-overlap", type=float, default=None,
                   help="most content-word shingles a passage may share with one already chosen (default 0.5)")
    s.set_defaults(func=cmd_select)
    e = steps.add_parser("export", help="a Label Studio project folder (label_config.xml, tasks.json) from a batch")
    e.add_argument("batch", type=Path, help="a batch file written by select")
    e.add_argument("--out", type=Path, help="project folder (default var/annotate/<batch name>/)")
    e.add_argument("--label-studio-url", help="also create the project and import the tasks through the API")
    e.add_argument("--label-studio-token", default=os.environ.get("LABEL_STUDIO_TOKEN"),
                   help="API token, a personal access token or a legacy one (default LABEL_STUDIO_TOKEN, which keeps "
                        "it out of the process list)")
    e.add_argument("--title", help="project title (default: the batch name)")
    e.set_defaults(func=cmd_export)
    i = steps.add_parser("import", help="a Label Studio JSON export into a new labels/data/<name>.jsonl")
    i.add_argument("export", type=Path, help="Label Studio's JSON export of the project")
    i.add_argument("--name", required=True, help="the new file's name: labels/data/<name>.jsonl, articles "
                                                 "ann-<name>-a001...")
    i.add_argument("--rejects", type=Path, help="rejects report (default var/annotate/<name>.rejects.jsonl)")
    i.add_argument("--realdev", type=Path, default=None, help="realdev passages, which the import must not repeat")
    i.set_defaults(func=cmd_import)


def _realdev(path: Path | None, codebook: Any) -> list[dict]:
    return load_realdev(path or default_path(), codebook).records


def _load_model(model_uri: str | None, tracking_uri: str | None) -> Any:
    """The model as the service and batch scoring load it (their settings: cache, int8)."""
    from serving.config import get_settings
    from serving.model import ModelStore

    settings = get_settings()
    return ModelStore(model_uri or settings.model_uri, tracking_uri or settings.tracking_uri, settings.cache_dir,
                      int8=settings.int8).load(allow_cache=True)


def cmd_select(args: argparse.Namespace) -> int:
    from labels.corpus import read_corpus
    from labels.queue import DEFAULT_QUEUE_DIR, read_corrections
    from labels.selection import (
        MAX_OVERLAP,
        article_candidates,
        correction_candidates,
        default_batch_path,
        reference_passages,
        select,
    )

    codebook = load_codebook(args.codebook)
    try:
        realdev = _realdev(args.realdev, codebook)
    except RealdevError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    corpus, problems = read_corpus(args.data_dir, codebook)
    if problems:
        print(f"error: the corpus has {len(problems)} problem(s); run `python -m labels validate`", file=sys.stderr)
        return 2
    records, queue_problems = read_corrections(args.queue or DEFAULT_QUEUE_DIR)
    corrections, bad = correction_candidates(records, codebook)
    for p in queue_problems + bad:
        print(f"skipped: {p}", file=sys.stderr)
    candidates: list = []
    if args.input is not None:
        from scoring.inputs import Article, InputError, input_format, read_articles
        from serving.articles import article_passages
        from serving.model import ModelLoadError

        try:
            input_format(args.input)
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        try:
            model = _load_model(args.model_uri, args.tracking_uri)
        except ModelLoadError as exc:
            print(f"error: no model to select with: {exc}", file=sys.stderr)
            return 3
        articles = []
        for got in read_articles(args.input, MAX_ARTICLE_CHARS):
            if isinstance(got, Article):
                articles.append(got)
            else:
                print(f"skipped: {args.input}:{got.line}: {got.reason}", file=sys.stderr)
        ref = {"name": model.name, "version": model.version, "run_id": model.run_id}
        candidates, left_out = article_candidates(articles, model.predictor.predict, ref, args.input.name,
                                                  article_passages)
        print(f"{len(articles)} articles: {len(candidates)} candidate passages; left out: "
              f"{left_out['no_date']} of undated articles, {left_out['length']} outside the corpus's word limits")
    try:
        batch, skipped = select(corrections, candidates, args.size, reference_passages(corpus, realdev),
                                MAX_OVERLAP if args.max_overlap is None else args.max_overlap)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not batch:
        print("nothing to annotate: no correction queued and no candidate passage", file=sys.stderr)
        return 1
    out = args.out or default_batch_path(REPO_ROOT, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(c.row(codebook), ensure_ascii=False) + "\n" for c in batch), encoding="utf-8")
    n_corr = sum(c.correction is not None for c in batch)
    print(f"{len(batch)} passages ({n_corr} corrections) -> {out}; skipped: {skipped['known']} repeating the corpus "
          f"or realdev, {skipped['same_text']} repeated texts, {skipped['near_duplicate']} near-duplicates")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from labels.studio import LabelStudio, LabelStudioError, label_config, task, write_project

    codebook = load_codebook(args.codebook)
    try:
        rows = [json.loads(line) for line in args.batch.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, json.JSONDecodeError) as exc:
        print(f"error: {args.batch}: not a batch file: {exc}", file=sys.stderr)
        return 2
    versions = {r.get("codebook_version") for r in rows}
    if versions != {codebook.version}:
        print(f"error: the batch was selected under codebook {sorted(map(str, versions))}, this is "
              f"{codebook.version}: select again", file=sys.stderr)
        return 2
    folder = args.out or ANNOTATE_DIR / args.batch.stem
    config, tasks = write_project(folder, rows, codebook)
    print(f"{len(rows)} tasks: {config}, {tasks}")
    if args.label_studio_url:
        if not args.label_studio_token:
            print("error: --label-studio-url needs --label-studio-token or LABEL_STUDIO_TOKEN", file=sys.stderr)
            return 2
        try:
            ls = LabelStudio(args.label_studio_url, args.label_studio_token)
            project = ls.create_project(args.title or args.batch.stem, label_config(codebook))
            n = ls.import_tasks(project, [task(r, codebook) for r in rows])
            ls.close()
        except LabelStudioError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 3
        print(f"Label Studio project {project} with {n} tasks: {ls.project_url(project)}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from labels.corpus import DEFAULT_DATA_DIR, read_corpus
    from labels.ingest import IngestError, check_name, ingest, read_export, write_new
    from labels.selection import reference_passages

    codebook = load_codebook(args.codebook)
    data_dir = Path(args.data_dir) if args.data_dir else DEFAULT_DATA_DIR
    try:
        name = check_name(args.name)
        if (data_dir / f"{name}.jsonl").exists():
            raise IngestError(f"{data_dir / f'{name}.jsonl'} exists; an import always writes a new file")
        tasks = read_export(args.export)
        realdev = _realdev(args.realdev, codebook)
    except (IngestError, RealdevError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    corpus, problems = read_corpus(data_dir, codebook)
    if problems:
        print(f"error: the corpus has {len(problems)} problem(s) already; run `python -m labels validate`",
              file=sys.stderr)
        return 2
    got = ingest(tasks, codebook, name, reference_passages(corpus, realdev))
    _report(got, len(tasks))
    rejects = args.rejects or ANNOTATE_DIR / f"{name}.rejects.jsonl"
    rejects.parent.mkdir(parents=True, exist_ok=True)
    rejects.write_text("".join(json.dumps(r.record(), ensure_ascii=False) + "\n" for r in got.rejects),
                       encoding="utf-8")
    print(f"rejects report: {rejects}")
    try:
        path = write_new(data_dir, name, got.rows, codebook)
    except IngestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"imported {len(got.rows)} passages of {len({r['article_id'] for r in got.rows})} articles -> {path} "
          f"(source group ann: the next model trains on them)")
    return 0


def _report(got: Any, n_tasks: int) -> None:
    print(f"{n_tasks} tasks: {len(got.rows)} passages accepted, {len(got.rejects)} rejected, {got.cancelled} "
          f"cancelled annotations skipped, {got.multi_annotated} tasks annotated more than once")
    for r in got.rejects:
        print(f"  rejected task {r.task} ({r.passage_id}): {r.reason}")
    if got.kappa:
        print("agreement over the tasks' first two annotations (label, tasks, conflicts, Cohen's kappa):")
        for label, (n, kappa) in got.kappa.items():
            print(f"  {label:<36} {n:>4} {got.conflicts.get(label, 0):>4} {kappa:7.3f}")
