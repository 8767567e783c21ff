"""Batch scoring on a generated archive: throughput, memory as the input grows, and its timeline.

    .venv/bin/python experiments/benchmarks/scoring.py [--articles 1000 5000] [--no-evidence-sentences] [--no-spark]

Generates archives of articles from the corpus's passages (3 to 8 passages each, a title from the
first sentence of one of them, dates over 26 weeks, 5 outlets; 1% of records broken in the ways
``scoring.inputs`` rejects), scores each with ``python -m scoring score`` in a child process
against the registered champion (``MLFLOW_TRACKING_URI``), and reports per archive size the wall
time, articles/s, passages/s and the child's peak resident memory; the largest archive is also
scored with ``--engine spark --master local[2]`` (peak memory there is the driver's; the Python
workers are the JVM's children). For comparison it measures the
same model's batched throughput in this process (``Predictor.predict`` on 32-passage batches:
what the service's batcher runs). The largest archive's timeline is drawn with
``python -m scoring timeline``. Writes ``experiments/benchmarks/SCORING.md`` and the chart
``experiments/benchmarks/scoring-timeline.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
OUT = Path(__file__).with_name("SCORING.md")
CHART = Path(__file__).with_name("scoring-timeline.png")
OUTLETS = ("wire", "daily", "weekly", "broadcaster", "blog")


def generate(n: int, path: Path, seed: int = 0) -> None:
    """``n`` articles as JSONL; every hundredth record broken (no text, a number as text, bad JSON)."""
    from labels.codebook import load_codebook
    from labels.dataset import load_corpus
    from labels.splits import SplitConfig

    corpus = load_corpus(None, load_codebook(), SplitConfig(seed=13))
    texts = [t for split in corpus.splits.values() for t in split["text"]]
    rng = random.Random(seed)
    start = date(2024, 1, 1)
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            if i % 100 == 99:
                f.write([json.dumps({"id": f"a{i}"}), json.dumps({"id": f"a{i}", "text": 7}), "{broken"][i // 100 % 3])
                f.write("\n")
                continue
            body = rng.sample(texts, rng.randint(3, 8))
            record = {"id": f"a{i}", "title": body[0].split(". ")[0][:120], "text": "\n".join(body),
                      "published": (start + timedelta(days=rng.randrange(26 * 7))).isoformat(),
                      "source": rng.choice(OUTLETS)}
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


def run_scoring(src: Path, out: Path, extra: list[str]) -> tuple[float, int, dict]:
    """(wall seconds, peak RSS in bytes, summary) of one ``python -m scoring score`` child."""
    cmd = [sys.executable, "-m", "scoring", "score", str(src), "--out", str(out), "--quiet", *extra]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"scoring failed: {proc.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss * 1024, json.loads((out / "summary.json").read_text())


def batched_throughput(n_passages: int = 1024) -> float:
    """Passages/s of the champion's ``predict`` on 32-passage batches, as the service loads it."""
    from labels.codebook import load_codebook
    from labels.dataset import load_corpus
    from labels.splits import SplitConfig
    from serving.config import get_settings
    from serving.model import ModelStore

    s = get_settings()
    with tempfile.TemporaryDirectory() as cache:
        model = ModelStore(s.model_uri, s.tracking_uri, Path(cache), int8=s.int8).load()
    texts = list(load_corpus(None, load_codebook(), SplitConfig(seed=13)).splits["test"]["text"])[:n_passages]
    model.predictor.predict(texts[:32])
    t0 = time.perf_counter()
    for i in range(0, len(texts), 32):
        model.predictor.predict(texts[i:i + 32])
    return len(texts) / (time.perf_counter() - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--no-evidence-sentences", action="store_true")
    parser.add_argument("--no-spark", action="store_true", help="skip the Spark local[2] run")
    args = parser.parse_args()
    extra = ["--no-evidence-sentences"] if args.no_evidence_sentences else []
    cores = os.cpu_count() or 1
    rows, largest = [], None
    with tempfile.TemporaryDirectory(prefix="scoring-bench-") as tmp:
        for n in args.articles:
            src, out = Path(tmp) / f"archive-{n}.jsonl", Path(tmp) / f"scored-{n}"
            generate(n, src)
            wall, rss, summary = run_scoring(src, out, extra)
            rows.append(("local", n, wall, rss, summary))
            largest = out
        if not args.no_spark:
            n = args.articles[-1]
            wall, rss, summary = run_scoring(Path(tmp) / f"archive-{n}.jsonl", Path(tmp) / f"spark-{n}",
                                             [*extra, "--engine", "spark", "--master", "local[2]"])
            rows.append(("spark local[2]", n, wall, rss, summary))
        subprocess.run([sys.executable, "-m", "scoring", "timeline", str(largest), "--png", str(CHART),
                        "--csv", str(Path(tmp) / "timeline.csv")], cwd=ROOT, check=True, capture_output=True)
        service = batched_throughput()
    model = rows[-1][4]["model"]
    lines = [
        "# Batch scoring (`experiments/benchmarks/scoring.py`)", "",
        (f"Model: {model['model_name']} version {model['model_version']} (run {model['run_id']}); "
        f"{cores} cores; evidence sentences {'off' if extra else 'on'}; one run on {time.strftime('%Y-%m-%d')}. "
        "Wall time includes the child's start and model load."), "",
        "| engine | articles | read / scored / rejected | passages | wall s | articles/s | passages/s | peak RSS MB |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for engine, n, wall, rss, s in rows:
        lines.append(f"| {engine} | {n} | {s['read']} / {s['scored']} / {s['rejected']} | {s['passages']} | "
                     f"{wall:.1f} | {s['scored'] / wall:.1f} | {s['passages'] / wall:.1f} | {rss / 2**20:.0f} |")
    _, n, wall, rss, s = [r for r in rows if r[0] == "local"][-1]
    lines += ["", (f"The service's batched path on this machine (the same model, `predict` on 32-passage batches "
                   f"in process, the int8 graph run one passage at a time on one thread, as the local engine runs "
                   f"it): {service:.1f} passages/s. The local engine's passages/s on {n} articles over it: "
                   f"{s['passages'] / wall / service:.2f} (its wall time includes start and model load; with "
                   "evidence sentences on, it also labels sentences it does not count as passages)."), "",
              f"Timeline of the {n}-article archive: `{CHART.name}`.", ""]
    OUT.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
