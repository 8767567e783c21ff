"""Serving performance, measured in one run: this service against `mlflow models serve` on the
same registered model version, the CPU's matmul ceiling, cold start, memory and training time.

    .venv/bin/python experiments/benchmarks/serving.py                      # trains the default config first
    .venv/bin/python experiments/benchmarks/serving.py --model-uri models:/stance-framing/3 [--repeats 3]

Steps, all on this machine and in this one run:

1. Training: `python -m training train experiments/configs/default.yaml` as its own process,
   timed around the process; the version it registers is the one benchmarked. With
   `--model-uri` no training happens and the wall time logged by that version's run is reported.
2. In process (nothing else running): the dense fp32 matmul FLOP/s of torch at the service's
   thread count; the model's FLOPs per passage (torch's FLOP counter, at each passage's own
   length, no padding); for the unoptimised model and the served (optimised) one: test-split
   quality, the bare compute time of one passage, and batch-32 throughput as achieved FLOP/s.
3. Over HTTP: this service (`python -m serving`) and the MLflow scoring server
   (`mlflow models serve --env-manager local`), each on its own loopback port with the same
   version, driven in turn by the same load from a separate client process (`loadgen.py`):
   `/invocations` requests with identical bodies of 1 and 32 passages (test-split passages of
   40-120 words) at concurrency 1, 4 and 16, each cell bounded in requests and seconds and
   repeated `--repeats` times, servers alternating; medians are reported.
4. Cold start (process start to `/readyz` 200, median of `--cold-starts`), resident memory of the
   loaded service after the load (RSS and peak), of the MLflow server too.

Writes experiments/benchmarks/RESULTS.md and logs every figure to an MLflow run in experiment
`benchmarks` (same store as training). Absolute times depend on the machine; ratios are the point.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from experiments.benchmarks.procs import cpu_features, cpu_name, free_port, stop, tree_rss_mb, wait_ready

OUT = ROOT / "experiments" / "benchmarks" / "RESULTS.md"
LOADGEN = Path(__file__).with_name("loadgen.py")
SIZES = (1, 32)
CONCURRENCY = (1, 4, 16)
QUALITY_TOLERANCE = 0.01

TARGETS = {
    "throughput_ratio_single_c16": 3.0,   # at least
    "throughput_ratio_batch32": 2.0,      # at least, at concurrency 1 and 4
    "latency_ratio_single_c1": 1.5,       # at most: HTTP p50 / bare compute
    "rss_mb": 500,                        # at most
    "cold_start_s": 5,                    # at most
}


# -- helpers ------------------------------------------------------------------------------
def median(values: list[float]) -> float:
    return statistics.median(values)


# -- steps --------------------------------------------------------------------------------
def train_default(env: dict[str, str], stamp: str) -> tuple[float, str, str]:
    """Train the default config as a user would; return (wall s, run id, registered version)."""
    from mlflow import MlflowClient

    name = f"bench-serving-train-{stamp}"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "training", "train", "experiments/configs/default.yaml",
                           f"--tracking.run_name={name}"], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"training failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    client = MlflowClient()
    exp = client.get_experiment_by_name("stance-framing")
    run = client.search_runs([exp.experiment_id], f"tags.mlflow.runName = '{name}'")[0]
    return wall, run.info.run_id, run.data.tags["registered_version"]


def resolve(model_uri: str) -> tuple[str, str, str]:
    """(registered name, version, source run id) of a ``models:/`` URI."""
    from mlflow import MlflowClient

    from serving.fetch import parse_model_uri

    name, alias, version = parse_model_uri(model_uri)
    client = MlflowClient()
    mv = client.get_model_version_by_alias(name, alias) if alias else client.get_model_version(name, version)
    return name, mv.version, mv.run_id


def matmul_flops(threads: int, sizes: tuple[int, ...] = (512, 1024, 2048), reps: int = 7) -> dict[int, float]:
    """Median FLOP/s of an n x n fp32 matmul at each size."""
    import torch

    torch.set_num_threads(threads)
    out = {}
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        for _ in range(2):
            torch.mm(a, b)
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            torch.mm(a, b)
            times.append(time.perf_counter() - t0)
        out[n] = 2 * n**3 / median(times)
    return out


def int8_gemm_ops(m: int = 128, k: int = 384, n: int = 1536, reps: int = 50) -> dict[int, float]:
    """Median ops/s (2*m*k*n per product) of an int8 matrix product in ONNX Runtime (MatMulInteger,
    uint8 x int8, the kernel the served graph runs), at 1 thread (one served passage) and at all cores."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "b"], ["y"])], "gemm",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [m, k])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [m, n])],
        [helper.make_tensor("b", TensorProto.INT8, [k, n],
                            np.random.default_rng(0).integers(-127, 127, (k, n), dtype=np.int8).tobytes(), raw=True)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    a = np.random.default_rng(1).integers(0, 255, (m, k), dtype=np.uint8)
    out = {}
    for threads in sorted({1, os.cpu_count() or 1}):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        for _ in range(5):
            sess.run(None, {"a": a})
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            sess.run(None, {"a": a})
            times.append(time.perf_counter() - t0)
        out[threads] = 2 * m * k * n / median(times)
    return out


def parallel_rate(predictor: Any, texts: list[str], workers: int, repeats: int) -> float:
    """Passages/s of ``workers`` threads each scoring its share of ``texts`` (as the service's workers do)."""
    from concurrent.futures import ThreadPoolExecutor

    shares = [texts[i::workers] for i in range(workers)]
    walls = []
    with ThreadPoolExecutor(workers) as pool:
        for _ in range(repeats):
            t0 = time.perf_counter()
            list(pool.map(predictor.scores, shares))
            walls.append(time.perf_counter() - t0)
    return len(texts) / median(walls)


def passage_flops(predictor: Any, texts: list[str]) -> list[float]:
    """FLOPs of one forward pass for each passage alone (its own length, no padding)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    clf = predictor.classifier
    flops = []
    with torch.inference_mode():
        for text in texts:
            batch = clf.collate(clf.encode([text]))
            with FlopCounterMode(display=False) as counter:
                clf.model(batch)
            flops.append(float(counter.get_total_flops()))
    return flops


def inprocess(predictor: Any, texts: list[str], flops: list[float], repeats: int, single_threads: int,
              shared_threads: int, all_threads: int) -> dict[str, float]:
    """Bare compute of one passage (median over passages and repeats) with the threads a lone request
    gets and with one worker's share, and the throughput of the whole set in the model's own
    batching, at all cores."""
    import torch

    out = {}
    for key, threads in (("single_ms", single_threads), ("single_shared_ms", shared_threads)):
        torch.set_num_threads(threads)
        singles = []
        for _ in range(repeats):
            for t in texts:
                t0 = time.perf_counter()
                predictor.scores([t])
                singles.append(time.perf_counter() - t0)
        out[key] = 1000 * median(singles)
    torch.set_num_threads(all_threads)
    batch_times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        predictor.scores(texts)  # sorted by length, in the model's inference batches
        batch_times.append(time.perf_counter() - t0)
    wall = median(batch_times)
    return {**out, "batch_passages_per_s": len(texts) / wall, "batch_flops_per_s": sum(flops) / wall}


def quality(predictor: Any, test: Any) -> dict[str, float]:
    from training.evaluation import evaluate

    metrics, _ = evaluate(predictor, test, "test_")
    return {k: metrics[k] for k in ("test_frames_macro_f1", "test_stance_macro_f1")}


def start_service(port: int, model_uri: str, env: dict[str, str], cache: Path, logdir: Path, i: int
                  ) -> tuple[subprocess.Popen, float]:
    log = logdir / f"service-{i}.log"
    senv = {**env, "STANCE_MODEL_URI": model_uri, "STANCE_CACHE_DIR": str(cache)}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "serving", "--port", str(port)], cwd=ROOT, env=senv,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    wait_ready(proc, f"http://127.0.0.1:{port}/readyz", 180, log)
    return proc, time.perf_counter() - t0


def start_mlflow(port: int, model_uri: str, env: dict[str, str], logdir: Path) -> tuple[subprocess.Popen, float]:
    log = logdir / "mlflow-serve.log"
    bindir = Path(sys.executable).parent  # the scoring server execs `uvicorn` from PATH
    menv = {**env, "PATH": f"{bindir}{os.pathsep}{env.get('PATH', '')}"}
    t0 = time.perf_counter()
    menv["STANCE_PYFUNC_INT8"] = "false"  # the plain fp32 torch pyfunc: the path a user takes without this service
    proc = subprocess.Popen([str(bindir / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local",
                             "--host", "127.0.0.1", "--port", str(port)], cwd=ROOT, env=menv,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    wait_ready(proc, f"http://127.0.0.1:{port}/ping", 300, log)
    return proc, time.perf_counter() - t0


def drive(url: str, payloads: Path, size: int, concurrency: int, requests: int, max_seconds: float) -> dict:
    proc = subprocess.run([sys.executable, str(LOADGEN), "--url", url, "--payloads", str(payloads),
                           "--requests", str(requests), "--concurrency", str(concurrency),
                           "--max-seconds", str(max_seconds), "--warmup", str(max(2, concurrency)),
                           "--passages-per-request", str(size)], capture_output=True, text=True, cwd=ROOT,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def payload_file(texts: list[str], size: int, workdir: Path) -> Path:
    """Request bodies of ``size`` passages each (MLflow ``dataframe_split``), rotating over ``texts``."""
    bodies = []
    for start in range(0, len(texts), max(1, size)):
        chunk = [texts[(start + k) % len(texts)] for k in range(size)]
        bodies.append({"dataframe_split": {"columns": ["text"], "data": [[t] for t in chunk]}})
    path = workdir / f"payloads-{size}.json"
    path.write_text(json.dumps(bodies))
    return path


# -- main ---------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description="serving benchmark (see the module docstring)")
    parser.add_argument("--model-uri", help="benchmark this registered version instead of training one")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of every load cell (median reported)")
    parser.add_argument("--cold-starts", type=int, default=3)
    parser.add_argument("--single-requests", type=int, default=240, help="requests per 1-passage cell")
    parser.add_argument("--batch-requests", type=int, default=24, help="requests per 32-passage cell")
    parser.add_argument("--max-seconds", type=float, default=20.0, help="time bound of one cell")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    import mlflow

    from labels.codebook import load_codebook
    from labels.dataset import load_corpus
    from serving.config import Settings
    from stance_model.offline import force_offline
    from stance_model.predictor import Predictor
    from training import tracking
    from training.data import to_task_data

    force_offline()
    uri = tracking.configure()
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    stamp = time.strftime("%Y%m%d-%H%M%S")
    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    settings = Settings()
    figures: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}

    # 1. training
    if args.model_uri:
        name, version, run_id = resolve(args.model_uri)
        train_wall = mlflow.MlflowClient().get_run(run_id).data.metrics.get("train_wall_seconds")
        train_note = f"logged by run {run_id} (not re-measured: --model-uri given)"
    else:
        print("training the default config ...", flush=True)
        train_wall, run_id, version = train_default(env, stamp)
        name = "stance-framing"
        train_note = f"measured around `python -m training train experiments/configs/default.yaml` (run {run_id})"
        print(f"  {train_wall:.0f} s, registered version {version}", flush=True)
    model_uri = f"models:/{name}/{version}"
    figures.update(model_uri=model_uri, train_wall_s=train_wall, train_note=train_note)

    # 2. in process
    from stance_model.encoder import set_threads

    threads = os.cpu_count() or 1
    served_threads = settings.threads_alone  # what the service gives a lone request (concurrency 1)
    set_threads(threads)
    codebook = load_codebook(None)
    corpus = load_corpus(None, codebook)
    test = to_task_data(corpus.splits["test"], codebook)
    texts = [t for t in test.texts if 40 <= len(t.split()) <= 120]
    pdir = tracking.download_predictor(model_uri, work / "model")
    print(f"matmul ceiling at {threads} threads ...", flush=True)
    mm = matmul_flops(threads)
    peak = max(mm.values())
    plain = Predictor.load(pdir)
    flops = passage_flops(plain, texts)
    tokens = [len(plain.classifier.encode([t])[0]["input_ids"]) for t in texts]
    flops_per_token = sum(flops) / sum(tokens)
    print("in-process: unoptimised ...", flush=True)
    q_plain = quality(plain, test)
    r_plain = inprocess(plain, texts, flops, args.repeats, served_threads, settings.threads_per_worker, threads)
    served = Predictor.load(pdir)
    applied = served.optimize_for_inference(int8=settings.int8)
    print(f"in-process: served ({', '.join(applied) or 'no optimisation'}) ...", flush=True)
    q_served = quality(served, test)
    r_served = inprocess(served, texts, flops, args.repeats, served_threads, settings.threads_per_worker,
                         threads)
    if served.quantised:  # one passage per run on one thread: the cores are used by parallel workers
        r_served["batch_passages_per_s"] = parallel_rate(served, texts, settings.inference_workers, args.repeats)
        r_served["batch_flops_per_s"] = r_served["batch_passages_per_s"] * statistics.mean(flops)
        r_served["one_thread_passages_per_s"] = 1000 / r_served["single_shared_ms"]
    print("int8 matrix product ceiling ...", flush=True)
    int8_ops = int8_gemm_ops()
    del plain, served
    figures.update(
        threads=threads, served_threads=served_threads, workers=settings.inference_workers, matmul_flops=mm,
        threads_alone=settings.threads_alone, threads_shared=settings.threads_per_worker,
        matmul_peak=peak, flops_per_token=flops_per_token,
        mean_tokens=statistics.mean(tokens), passages=len(texts), optimizations=applied,
        quality_plain=q_plain, quality_served=q_served, inproc_plain=r_plain, inproc_served=r_served,
        flops_fraction_plain=r_plain["batch_flops_per_s"] / peak,
        flops_fraction_served=r_served["batch_flops_per_s"] / peak,
        quality_delta={k: q_served[k] - q_plain[k] for k in q_plain}, int8_gemm_ops=int8_ops)
    print(f"  matmul {peak / 1e9:.1f} GFLOP/s; inference {r_plain['batch_flops_per_s'] / 1e9:.1f} GFLOP/s "
          f"unoptimised, {r_served['batch_flops_per_s'] / 1e9:.1f} served; bare single passage "
          f"{r_plain['single_ms']:.1f} / {r_served['single_ms']:.1f} ms", flush=True)

    # 3-4. over HTTP
    cold = []
    for i in range(args.cold_starts):
        cache = work / f"cache-{i}"
        port = free_port()
        proc, secs = start_service(port, model_uri, env, cache, work, i)
        cold.append(secs)
        print(f"  cold start {i + 1}: {secs:.1f} s", flush=True)
        if i < args.cold_starts - 1:
            stop(proc)
    ours_port, ours = port, proc
    ml_port = free_port()
    ml_proc, ml_cold = start_mlflow(ml_port, model_uri, env, work)
    print(f"  mlflow models serve ready in {ml_cold:.1f} s", flush=True)
    figures.update(cold_start_s=median(cold), cold_starts=cold, mlflow_cold_start_s=ml_cold)
    payloads = {size: payload_file(texts, size, work) for size in SIZES}
    servers = {"ours": f"http://127.0.0.1:{ours_port}/invocations", "mlflow": f"http://127.0.0.1:{ml_port}/invocations"}
    cells: dict[tuple[str, int, int], list[dict]] = {}
    try:
        for rep in range(args.repeats):
            for size in SIZES:
                for c in CONCURRENCY:
                    for server, url in servers.items():
                        n = args.single_requests if size == 1 else args.batch_requests
                        r = drive(url, payloads[size], size, c, max(n, 2 * c), args.max_seconds)
                        cells.setdefault((server, size, c), []).append(r)
                        print(f"  rep {rep + 1} {server:6} size {size:2} c{c:<2}: {r['passages_per_s']:7.1f} "
                              f"passages/s, p50 {r['p50_ms']:.0f} ms, errors {r['errors']}", flush=True)
        rss, rss_peak = tree_rss_mb(ours.pid)
        ml_rss, ml_peak = tree_rss_mb(ml_proc.pid)
    finally:
        stop(ours)
        stop(ml_proc)
    table = {}
    for (server, size, c), runs in cells.items():
        table[(server, size, c)] = {
            "passages_per_s": median([r["passages_per_s"] for r in runs]),
            "p50_ms": median([r["p50_ms"] for r in runs]), "p95_ms": median([r["p95_ms"] for r in runs]),
            "p99_ms": median([r["p99_ms"] for r in runs]), "errors": sum(r["errors"] for r in runs),
            "requests": sum(r["requests"] for r in runs)}
    figures.update(rss_mb=rss, rss_peak_mb=rss_peak, mlflow_rss_mb=ml_rss, mlflow_rss_peak_mb=ml_peak, table=table)
    service_c16 = table[("ours", 32, 16)]["passages_per_s"] * statistics.mean(flops)
    figures["flops_fraction_http"] = service_c16 / peak

    report = render(figures, args)
    args.out.write_text(report)
    print(report)
    log_to_mlflow(figures, args.out)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def checks(f: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    t = f["table"]
    ratio = {(s, c): t[("ours", s, c)]["passages_per_s"] / t[("mlflow", s, c)]["passages_per_s"]
             for s in SIZES for c in CONCURRENCY}
    f["ratios"] = ratio
    lat = t[("ours", 1, 1)]["p50_ms"] / f["inproc_served"]["single_ms"]
    f["latency_ratio"] = lat
    worst_delta = min(f["quality_delta"].values())
    p99_ours, p99_ml = t[("ours", 1, 16)]["p99_ms"], t[("mlflow", 1, 16)]["p99_ms"]
    errors = sum(t[("ours", s, c)]["errors"] for s in SIZES for c in CONCURRENCY)
    return [
        ("throughput, 1 passage, concurrency 16 (ours / MLflow)", ">= 3.0x", f"{ratio[(1, 16)]:.2f}x",
         ratio[(1, 16)] >= TARGETS["throughput_ratio_single_c16"]),
        ("throughput, 32 passages, concurrency 1 and 4 (ours / MLflow)", ">= 2.0x",
         ", ".join(f"c{c} {ratio[(32, c)]:.2f}x" for c in (1, 4)),
         min(ratio[(32, c)] for c in (1, 4)) >= TARGETS["throughput_ratio_batch32"]),
        ("p99, 1 passage, concurrency 16 (ours vs MLflow)", "below MLflow's", f"{p99_ours:.0f} vs {p99_ml:.0f} ms",
         p99_ours < p99_ml),
        ("errors, every cell (ours)", "0", str(errors), errors == 0),
        ("p50 over HTTP / bare compute, 1 passage, concurrency 1", "<= 1.5x",
         f"{t[('ours', 1, 1)]['p50_ms']:.1f} / {f['inproc_served']['single_ms']:.1f} ms = {lat:.2f}x",
         lat <= TARGETS["latency_ratio_single_c1"]),
        ("resident memory of the loaded service after the load", "<= 500 MB",
         f"{f['rss_mb']:.0f} MB (peak {f['rss_peak_mb']:.0f})", f["rss_mb"] <= TARGETS["rss_mb"]),
        ("cold start (process start to /readyz 200), median", "<= 5 s", f"{f['cold_start_s']:.1f} s",
         f["cold_start_s"] <= TARGETS["cold_start_s"]),
        ("quality: test macro-F1 served vs unoptimised (frames, stance)", "loss at most 0.01",
         ", ".join(f"{v:+.4f}" for v in f["quality_delta"].values()), -worst_delta <= QUALITY_TOLERANCE),
    ]


def render(f: dict[str, Any], args: argparse.Namespace) -> str:
    rows = checks(f)
    t = f["table"]
    lines = [
        "# Serving performance: this service vs `mlflow models serve`", "",
        (f"Generated by `.venv/bin/python experiments/benchmarks/serving.py` on {f['date']} "
        f"(`make benchmark-serving`). Model `{f['model_uri']}`."),
        (f"Machine: {cpu_name()}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}, torch "
        f"{__import__('torch').__version__}, onnxruntime {__import__('onnxruntime').__version__}; CPU features: "
        f"{cpu_features()}. Absolute figures depend on the machine "
        "and its load; the ratios, measured in this same run, are the headline."),
        ("MLflow serves the same registered version as a plain fp32 torch pyfunc (`STANCE_PYFUNC_INT8=false`), "
        "the path a user takes without this service. "
        f"Load: `/invocations` with identical `dataframe_split` bodies to both servers, from a separate client "
        f"process; {f['passages']} test-split passages of 40-120 words; each cell at most {args.single_requests} "
        f"(1 passage) or {args.batch_requests} (32 passages) requests and {args.max_seconds:.0f} s; "
        f"median of {args.repeats} repeats, servers alternating."), "",
        "## Targets", "", "| target | goal | measured | met |", "|---|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} | {'yes' if ok else '**no**'} |" for a, b, c, ok in rows]
    lines += ["", "## Throughput and latency over HTTP", "",
              "| passages / request | concurrency | server | passages/s | p50 ms | p95 ms | p99 ms | errors | ours / MLflow |",
              "|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for size in SIZES:
        for c in CONCURRENCY:
            for server in ("ours", "mlflow"):
                r = t[(server, size, c)]
                ratio = f"{f['ratios'][(size, c)]:.2f}x" if server == "ours" else ""
                lines.append(f"| {size} | {c} | {'this service' if server == 'ours' else 'mlflow models serve'} | "
                             f"{r['passages_per_s']:.1f} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['p99_ms']:.0f} | "
                             f"{r['errors']} | {ratio} |")
    ip, isv = f["inproc_plain"], f["inproc_served"]
    lines += [
        "", "## Compute ceiling (in process, all cores)", "",
        "| measure | unoptimised | served |", "|---|---:|---:|",
        "| dense fp32 matmul GFLOP/s (n = " + ", ".join(f"{n}: {v / 1e9:.1f}" for n, v in f["matmul_flops"].items())
        + ") | " + f"{f['matmul_peak'] / 1e9:.1f} | {f['matmul_peak'] / 1e9:.1f} |",
        (f"| model GFLOP per passage (mean {f['mean_tokens']:.0f} tokens, no padding) | "
        f"{f['flops_per_token'] * f['mean_tokens'] / 1e9:.3f} | same |"),
        (f"| inference over all {f['passages']} passages, passages/s | {ip['batch_passages_per_s']:.1f} | "
        f"{isv['batch_passages_per_s']:.1f} |"),
        (f"| achieved GFLOP/s (model FLOPs x passages/s) | {ip['batch_flops_per_s'] / 1e9:.1f} | "
        f"{isv['batch_flops_per_s'] / 1e9:.1f} |"),
        f"| fraction of matmul FLOP/s | {100 * f['flops_fraction_plain']:.0f}% | {100 * f['flops_fraction_served']:.0f}% |",
        (f"| bare compute of one passage, median ms, {f['served_threads']} thread(s) (as served alone) | {ip['single_ms']:.1f} | "
        f"{isv['single_ms']:.1f} |"),
        (f"| bare compute of one passage, median ms, {f['threads_shared']} thread(s) (one worker's share) | "
        f"{ip['single_shared_ms']:.1f} | {isv['single_shared_ms']:.1f} |"),
        (f"| test frames macro-F1 | {f['quality_plain']['test_frames_macro_f1']:.4f} | "
        f"{f['quality_served']['test_frames_macro_f1']:.4f} |"),
        (f"| test stance macro-F1 | {f['quality_plain']['test_stance_macro_f1']:.4f} | "
        f"{f['quality_served']['test_stance_macro_f1']:.4f} |"),
        "| int8 matrix product (ONNX Runtime MatMulInteger, 128 x 384 x 1536) GOP/s, "
        + ", ".join(f"{n} thread(s): {v / 1e9:.0f}" for n, v in f["int8_gemm_ops"].items()) + " | | |",
        *([(f"| served, one passage per run on one thread: passages/s; achieved GOP/s (model FLOPs as int8 ops) "
           f"against the 1-thread int8 product | | {isv['one_thread_passages_per_s']:.1f}; "
           f"{isv['one_thread_passages_per_s'] * f['flops_per_token'] * f['mean_tokens'] / 1e9:.0f} of "
           f"{f['int8_gemm_ops'][1] / 1e9:.0f} "
           f"({100 * isv['one_thread_passages_per_s'] * f['flops_per_token'] * f['mean_tokens'] / f['int8_gemm_ops'][1]:.0f}%) |")]
          if "one_thread_passages_per_s" in isv else []),
        "", (f"Served: {f['workers']} inference workers; a batch running alone gets {f['threads_alone']} torch "
        f"thread(s), batches running together {f['threads_shared']} each; "
        f"{', '.join(f['optimizations']) or 'no optimisation'}. Over HTTP (32-passage requests, "
        f"concurrency 16) the service reached {100 * f['flops_fraction_http']:.0f}% of the matmul FLOP/s."),
        "", "## Start-up, memory, training", "",
        f"- Cold start of this service, process start to `/readyz` 200 (fresh model cache each time): median "
        f"{f['cold_start_s']:.1f} s of " + ", ".join(f"{s:.1f}" for s in f["cold_starts"]) + " s; "
        f"`mlflow models serve` to `/ping` 200: {f['mlflow_cold_start_s']:.1f} s.",
        (f"- Resident memory after the load: this service {f['rss_mb']:.0f} MB (peak {f['rss_peak_mb']:.0f} MB); "
        f"MLflow scoring server {f['mlflow_rss_mb']:.0f} MB (peak {f['mlflow_rss_peak_mb']:.0f} MB), its processes summed."),
        f"- Training wall time of the default config: {f['train_wall_s']:.0f} s, {f['train_note']}.",
    ]
    return "\n".join(lines) + "\n"


def log_to_mlflow(f: dict[str, Any], report: Path) -> None:
    import mlflow

    from training import tracking

    exp = tracking.ensure_experiment("benchmarks")
    metrics = {
        "train_wall_s": f["train_wall_s"] or 0.0, "cold_start_s": f["cold_start_s"], "rss_mb": f["rss_mb"],
        "rss_peak_mb": f["rss_peak_mb"], "mlflow_rss_mb": f["mlflow_rss_mb"], "matmul_gflops": f["matmul_peak"] / 1e9,
        "flops_fraction_served": f["flops_fraction_served"], "flops_fraction_plain": f["flops_fraction_plain"],
        "int8_gemm_gops_1t": f["int8_gemm_ops"][1] / 1e9,
        "flops_fraction_http": f["flops_fraction_http"], "latency_ratio_single_c1": f["latency_ratio"],
        "bare_single_ms": f["inproc_served"]["single_ms"],
        **{f"quality_delta_{k}": v for k, v in f["quality_delta"].items()},
    }
    for (server, size, c), r in f["table"].items():
        for k in ("passages_per_s", "p50_ms", "p95_ms", "p99_ms", "errors"):
            metrics[f"{server}_n{size}_c{c}_{k}"] = r[k]
    for (size, c), v in f["ratios"].items():
        metrics[f"ratio_n{size}_c{c}"] = v
    with mlflow.start_run(experiment_id=exp, run_name=f"serving-benchmark-{time.strftime('%Y%m%d-%H%M%S')}",
                          tags={"benchmark": "serving", **tracking.git_info()}):
        mlflow.log_params({"model_uri": f["model_uri"], "threads": f["threads"],
                           "optimizations": "; ".join(f["optimizations"]) or "none"})
        mlflow.log_metrics(metrics)
        mlflow.log_artifact(str(report))


if __name__ == "__main__":
    sys.exit(main())
