"""Where the service's time goes under load: a sampling profile of the live process and an
operator profile of the model, written to experiments/benchmarks/PROFILE.md.

    .venv/bin/python experiments/benchmarks/profile_service.py [--model-uri models:/stance-framing@champion]

1. Starts `python -m serving` (default settings) and drives it with single-passage requests at
   concurrency 16 from a separate process (`loadgen.py`) while `py-spy` samples every thread of the
   service for `--seconds`; the samples are grouped by thread and by what the thread was doing.
2. Reads the service's batch-size histogram from `/metrics` (how far coalescing got).
3. In process: `torch.profiler` over the model on batches of that size, operators grouped into
   matrix multiplies, attention, normalisation/activations and the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from experiments.benchmarks.procs import cpu_name, free_port, stop, wait_ready

OUT = ROOT / "experiments" / "benchmarks" / "PROFILE.md"
CATEGORIES = [  # first match wins, searched in the whole stack
    ("model forward (torch)", "forward ("),
    ("tokenisation", "_encode ("),
    ("batch assembly (collate)", "_collate ("),
    ("result building", "results (stance_model/predictor"),
    ("request parsing / validation", "serving/validation.py"),
    ("HTTP middleware (body read, logs, metrics)", "serving/middleware/"),
    ("FastAPI routing / serialisation", "fastapi/"),
    ("uvicorn protocol", "uvicorn/"),
]


def categorise(stack: str) -> str:
    for name, pat in CATEGORIES:
        if pat in stack:
            return name
    return "other Python"


def sample_service(url: str, pid: int, seconds: float, payloads: Path, work: Path) -> dict:
    raw = work / "pyspy.txt"
    spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "-p", str(pid), "-o", str(raw),
                            "-f", "raw", "-d", str(int(seconds)), "-r", "100", "--nonblocking", "-t"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    load = subprocess.run([sys.executable, str(Path(__file__).with_name("loadgen.py")), "--url", url + "/v1/classify",
                           "--payloads", str(payloads), "--requests", "1000000", "--concurrency", "16",
                           "--max-seconds", str(seconds), "--warmup", "16"], capture_output=True, text=True, check=True)
    spy.wait(timeout=seconds + 60)
    threads: Counter[str] = Counter()
    cats: Counter[tuple[str, str]] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        thread = re.sub(r"thread \(\d+\): ", "", stack.split(";", 1)[0])
        role = "event loop" if thread == "MainThread" else "inference worker threads" \
            if "_worker (concurrent" in stack or "forward (" in stack else thread
        threads[role] += int(n)
        cats[(role, categorise(stack))] += int(n)
    return {"load": json.loads(load.stdout), "threads": dict(threads), "categories": cats}


def batch_sizes(url: str) -> dict[str, float]:
    text = httpx.get(url + "/metrics").text
    count = sum(float(v) for v in re.findall(r"^model_batch_size_count\S* (\S+)$", text, re.MULTILINE))
    total = sum(float(v) for v in re.findall(r"^model_batch_size_sum\S* (\S+)$", text, re.MULTILINE))
    return {"batches": count, "passages": total, "mean": total / count if count else 0.0}


def operator_profile(model_uri: str, texts: list[str], batch: int, threads: int) -> tuple[list[tuple[str, float]],
                                                                                         float]:
    import torch
    from torch.profiler import ProfilerActivity, profile

    from stance_model.predictor import Predictor
    from training import tracking

    tracking.configure()
    predictor = Predictor.load(tracking.download_predictor(model_uri, Path(tempfile.mkdtemp())))
    torch.set_num_threads(threads)
    chunks = [texts[i:i + batch] for i in range(0, len(texts) - batch + 1, batch)]
    for c in chunks[:3]:
        predictor.scores(c)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        for c in chunks:
            predictor.scores(c)
        wall = time.perf_counter() - t0
    groups: Counter[str] = Counter()
    for ev in prof.key_averages():
        name = ev.key
        self_us = ev.self_cpu_time_total
        if re.search(r"addmm|aten::mm|matmul|linear|bmm", name):
            groups["matrix multiplies (linear layers)"] += self_us
        elif re.search(r"scaled_dot_product|softmax|attention", name):
            groups["attention (scores, softmax)"] += self_us
        elif re.search(r"layer_norm|gelu|add|mul|div|tanh|sigmoid", name):
            groups["normalisation, activations, elementwise"] += self_us
        elif re.search(r"embedding|index|gather|copy|to|cat|masked|sum|mean|full|zeros|ones|empty|view|reshape",
                       name):
            groups["embedding lookup, pooling, copies"] += self_us
        else:
            groups["other operators"] += self_us
    total = sum(groups.values())
    return [(k, v / total) for k, v in groups.most_common()], len(chunks) * batch / wall


def main() -> int:
    parser = argparse.ArgumentParser(description="profile the service under load (see the module docstring)")
    parser.add_argument("--model-uri", default="models:/stance-framing@champion")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from labels.codebook import load_codebook
    from labels.dataset import load_corpus
    from serving.config import Settings

    settings = Settings()
    texts = [t for t in load_corpus(None, load_codebook(None)).splits["test"]["text"] if 40 <= len(t.split()) <= 120]
    work = Path(tempfile.mkdtemp(prefix="profile-"))
    payloads = work / "p1.json"
    payloads.write_text(json.dumps([{"texts": [t]} for t in texts]))
    port = free_port()
    log = work / "service.log"
    proc = subprocess.Popen([sys.executable, "-m", "serving", "--port", str(port)], cwd=ROOT,
                            env={**os.environ, "STANCE_MODEL_URI": args.model_uri}, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, url + "/readyz", 180, log)
        version = httpx.get(url + "/readyz").json().get("version")
        before = batch_sizes(url)
        sampled = sample_service(url, proc.pid, args.seconds, payloads, work)
        after = batch_sizes(url)
    finally:
        stop(proc)
    mean_batch = (after["passages"] - before["passages"]) / max(1.0, after["batches"] - before["batches"])
    batch = max(1, round(mean_batch))
    ops, inproc_rate = operator_profile(args.model_uri, texts, batch, settings.threads_per_worker)
    load = sampled["load"]
    lines = [
        "# Where the service's time goes under load", "",
        (f"Generated by `.venv/bin/python experiments/benchmarks/profile_service.py` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {cpu_name()}, {os.cpu_count()} CPUs; "
        f"`{args.model_uri}` (version {version}); service defaults ({settings.inference_workers} inference workers x "
        f"{settings.threads_per_worker} torch thread(s), int8 requested: {settings.int8})."), "",
        (f"Load: single-passage `/v1/classify` at concurrency 16 for {args.seconds:.0f} s from a separate process: "
        f"{load['passages_per_s']:.1f} passages/s, p50 {load['p50_ms']:.0f} ms, errors {load['errors']}. "
        f"Coalescing made batches of {mean_batch:.1f} passages on average."), "",
        "## Sampling profile of the service process (py-spy, 100 Hz, active samples only)", "",
        "| thread | activity | share of that thread's samples |", "|---|---|---:|",
    ]
    for role, n in sorted(sampled["threads"].items(), key=lambda kv: -kv[1]):
        for (r, cat), k in sampled["categories"].most_common():
            if r == role and k / n >= 0.005:
                lines.append(f"| {role} ({n} samples) | {cat} | {100 * k / n:.1f}% |")
    lines += ["", (f"## Operators inside the model (torch.profiler, batches of {batch}, "
                  f"{settings.threads_per_worker} thread(s), in process)"), "",
              "| operator group | share of operator CPU time |", "|---|---:|",
              *[f"| {k} | {100 * v:.1f}% |" for k, v in ops],
              "", (f"In process, one worker alone on batches of {batch} ran {inproc_rate:.1f} passages/s "
                  f"({settings.inference_workers} such workers share {os.cpu_count()} cores).")]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
