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
from experiments.benchmarks.inprocess import (
    inprocess,
    int8_gemm_ops,
    matmul_flops,
    parallel_rate,
    passage_flops,
    quality,
)
from experiments.benchmarks.procs import free_port, stop, tree_rss_mb, wait_ready
from experiments.benchmarks.serving_report import CONCURRENCY, SIZES, log_to_mlflow, render

OUT = ROOT / "experiments" / "benchmarks" / "RESULTS.md"
LOADGEN = Path(__file__).with_name("loadgen.py")


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
    figures.update(cold_start_s=statistics.median(cold), cold_starts=cold, mlflow_cold_start_s=ml_cold)
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
            "passages_per_s": statistics.median([r["passages_per_s"] for r in runs]),
            "p50_ms": statistics.median([r["p50_ms"] for r in runs]),
            "p95_ms": statistics.median([r["p95_ms"] for r in runs]),
            "p99_ms": statistics.median([r["p99_ms"] for r in runs]), "errors": sum(r["errors"] for r in runs),
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


if __name__ == "__main__":
    sys.exit(main())
