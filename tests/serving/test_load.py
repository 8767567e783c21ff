"""Load against the real service process over a tiny registered model: a short soak, and past
capacity (503 with Retry-After, then recovery). The 5-minute soak over the real champion is
``experiments/benchmarks/reliability.py``; ``test_long_soak`` runs it and is kept out of the
default test command (marker ``benchmark``: ``pytest -m benchmark``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.benchmarks.procs import free_port, stop, tree_rss_mb, wait_ready

ROOT = Path(__file__).resolve().parents[2]
LOADGEN = ROOT / "experiments" / "benchmarks" / "loadgen.py"
TEXTS = ["Ministers said a ceasefire line would not mean giving up any claim to the occupied regions.",
         "The alliance promised air defence systems and a path to membership once the war ends.",
         "Officials warned that long-range strikes on Russian airfields could draw a nuclear response.",
         "Grain shipments through the Black Sea corridor rose for the third month in a row."]


@pytest.fixture
def service(registered_store, tmp_path):
    def start(**env_extra: str):
        port = free_port()
        log = tmp_path / f"service-{port}.log"
        env = {**os.environ, "STANCE_MODEL_URI": f"models:/{registered_store['name']}@champion",
               "STANCE_TRACKING_URI": registered_store["uri"], "STANCE_CACHE_DIR": str(tmp_path / "cache"),
               **env_extra}
        proc = subprocess.Popen([sys.executable, "-m", "serving", "--port", str(port)], cwd=ROOT, env=env,
                                stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(proc)
        wait_ready(proc, f"http://127.0.0.1:{port}/readyz", 120, log)
        return proc, f"http://127.0.0.1:{port}"

    procs: list[subprocess.Popen] = []
    yield start
    for p in procs:
        stop(p)


def drive(url: str, bodies: list, requests: int, concurrency: int, seconds: float, tmp_path: Path) -> dict:
    payloads = tmp_path / f"payloads-{len(bodies[0]['texts'])}.json"
    payloads.write_text(json.dumps(bodies))
    out = subprocess.run([sys.executable, str(LOADGEN), "--url", url + "/v1/classify", "--payloads", str(payloads),
                          "--requests", str(requests), "--concurrency", str(concurrency), "--max-seconds",
                          str(seconds), "--warmup", "0"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_short_soak_no_errors_and_memory_flat(service, tmp_path):
    proc, url = service()
    bodies = [{"texts": [t]} for t in TEXTS]
    drive(url, bodies, 200, 16, 10, tmp_path)  # warm up: allocator pools, thread pools
    before = tree_rss_mb(proc.pid)[0]
    result = drive(url, bodies, 10**6, 16, 10, tmp_path)
    after = tree_rss_mb(proc.pid)[0]
    assert result["requests"] > 100 and result["errors"] == 0, result
    assert after - before < 40, (before, after)


def test_past_capacity_gives_503_with_retry_after_then_recovers(service, tmp_path):
    _, url = service(STANCE_MAX_QUEUE="64", STANCE_RETRY_AFTER_S="3")
    burst = drive(url, [{"texts": TEXTS * 8}], 10**6, 32, 6, tmp_path)  # 32 x 32 passages >> 64 queued
    assert burst["statuses"].get("503", 0) > 0, burst
    assert set(burst["statuses"]) <= {"200", "503"}, burst
    assert burst["retry_after_on_503"] == ["3"]
    after = drive(url, [{"texts": [t]} for t in TEXTS], 40, 4, 30, tmp_path)
    assert after["errors"] == 0 and after["ok"] == 40, after


@pytest.mark.benchmark
def test_long_soak():
    out = subprocess.run([sys.executable, "experiments/benchmarks/reliability.py"],
                         cwd=ROOT, check=False)
    assert out.returncode == 0
