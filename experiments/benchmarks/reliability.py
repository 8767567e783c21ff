"""Reliability and security figures from one real run against the served champion.

    .venv/bin/python experiments/benchmarks/reliability.py                 # 5-minute soak (make reliability)
    .venv/bin/python experiments/benchmarks/reliability.py --soak-seconds 20 --fuzz-examples 50   # quick look

Starts the service (`python -m serving`, default settings, an admin token set) on a loopback port
over the registered model (default `models:/stance-framing@champion`) and, with every client in
a separate process:

1. Fuzz: the schemathesis suite (`tests/serving/test_schema_fuzz.py`) pointed at the live service,
   valid and invalid requests generated from its OpenAPI schema; counts requests and statuses.
2. The hand-written hostile matrix (`experiments/benchmarks/hostile.py`) and a slow-loris body.
3. Soak: single-passage requests at concurrency 16 for `--soak-seconds`, resident memory sampled
   every second; error rate, p99, memory growth (median of the first fifth vs the last fifth).
4. Past capacity: 32-passage requests at concurrency 64 (far over the queue limit): how many 503s,
   all with Retry-After, then recovery (the next requests succeed).
5. Access: admin route without / with a wrong / with the right token, CORS headers, what the
   service's log holds (no passage text, no token), and a dependency audit (`pip-audit`).
6. Abusive articles: 100,000 one-character lines (300 KB) and 10,000 one-word paragraphs; the
   largest article the service accepts (`STANCE_MAX_ARTICLE_PASSAGES` passages of about 100 words)
   while `/healthz` is probed every 20 ms and single-passage `/v1/classify` requests run at
   concurrency 4; a client that gives up after 0.5 s on that article (its work must stop); the
   MLflow-protocol bodies that used to give invisible 500s; resident memory before and after.
7. Connections: 600 connections that never send a request (closed by the header timeout?), then
   more connections than `STANCE_MAX_CONNECTIONS` (clean 503s?) and how soon `/healthz` answers again.
8. Credentials: a second service pointed at an unreachable registry whose URI holds a password and
   a token; every response and the whole log are searched for them.
9. Faults: runs the fault tests (`tests/serving/test_faults.py`, `tests/training/test_faults.py`,
   `tests/serving/test_integration.py`) and reports each result.

Writes experiments/benchmarks/RELIABILITY.md and logs the figures to an MLflow run in experiment
`benchmarks`.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from experiments.benchmarks import edge_cases as edge
from experiments.benchmarks.procs import free_port, stop, tree_rss_mb, wait_ready
from experiments.benchmarks.reliability_report import log_to_mlflow, render, verdicts
from serving.config import Settings

OUT = ROOT / "experiments" / "benchmarks" / "RELIABILITY.md"
LOADGEN = Path(__file__).with_name("loadgen.py")


def start_service(model_uri: str, token: str, log: Path, **env_extra: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "STANCE_MODEL_URI": model_uri, "STANCE_ADMIN_TOKEN": token,
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **env_extra}
    proc = subprocess.Popen([sys.executable, "-m", "serving", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    wait_ready(proc, url + "/readyz", 180, log)
    return proc, url


def loadgen(url: str, payloads: Path, requests: int, concurrency: int, seconds: float, per_request: int) -> dict:
    out = subprocess.run([sys.executable, str(LOADGEN), "--url", url, "--payloads", str(payloads), "--requests",
                          str(requests), "--concurrency", str(concurrency), "--max-seconds", str(seconds),
                          "--warmup", "0", "--passages-per-request", str(per_request)],
                         capture_output=True, text=True, cwd=ROOT, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout)


def fuzz(url: str, examples: int, work: Path) -> dict[str, Any]:
    report = work / "fuzz.jsonl"
    env = {**os.environ, "FUZZ_BASE_URL": url, "FUZZ_EXAMPLES": str(examples), "FUZZ_REPORT": str(report),
           "FUZZ_ADMIN_TOKEN": "not-the-admin-token-0123456789"}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "tests/serving/test_schema_fuzz.py"], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=False)
    rows = [json.loads(line) for line in report.read_text().splitlines()] if report.exists() else []
    statuses = Counter(str(r["status"]) for r in rows)
    by_op = Counter(r["operation"] for r in rows)
    return {"requests": len(rows), "statuses": dict(sorted(statuses.items())), "operations": dict(by_op),
            "server_errors": sum(n for s, n in statuses.items() if s.startswith("5")),
            "pytest_exit": out.returncode, "pytest_tail": out.stdout.strip().splitlines()[-1:] if out.stdout else [],
            "seconds": time.perf_counter() - t0,
            "modes": dict(Counter(r.get("mode") for r in rows))}


def soak(url: str, pid: int, seconds: float, payloads: Path) -> dict[str, Any]:
    samples: list[tuple[float, float]] = []
    done = threading.Event()

    def sample() -> None:
        t0 = time.perf_counter()
        while not done.is_set():
            samples.append((time.perf_counter() - t0, tree_rss_mb(pid)[0]))
            done.wait(1.0)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result = loadgen(url + "/v1/classify", payloads, 10**9, 16, seconds, 1)
    done.set()
    sampler.join()
    rss = [r for _, r in samples]
    k = max(1, len(rss) // 5)
    fifths = [statistics.median(rss[i * k:(i + 1) * k]) for i in range(4)] + [statistics.median(rss[4 * k:])]
    return {**result, "rss_first_mb": fifths[0], "rss_last_mb": fifths[-1], "rss_growth_mb": fifths[-1] - fifths[0],
            "rss_fifths_mb": fifths, "rss_second_half_growth_mb": fifths[-1] - fifths[2],
            "rss_max_mb": max(rss), "rss_samples": len(rss),
            "error_rate": result["errors"] / max(1, result["requests"])}


def past_capacity(url: str, payloads32: Path, payloads1: Path) -> dict[str, Any]:
    burst = loadgen(url + "/v1/classify", payloads32, 10**9, 64, 20, 32)
    time.sleep(1)
    after = loadgen(url + "/v1/classify", payloads1, 50, 4, 30, 1)
    ready = httpx.get(url + "/readyz", timeout=10).status_code
    return {"burst": burst, "after": after, "ready_after": ready}


def access(url: str, token: str, log: Path, probe_text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    out["reload_no_token"] = httpx.post(url + "/admin/reload", timeout=30).status_code
    out["reload_wrong_token"] = httpx.post(url + "/admin/reload", headers={"Authorization": "Bearer " + "x" * 32},
                                           timeout=30).status_code
    out["reload_right_token"] = httpx.post(url + "/admin/reload", headers={"Authorization": f"Bearer {token}"},
                                           timeout=120).status_code
    r = httpx.options(url + "/v1/classify", headers={"Origin": "https://example.org",
                                                      "Access-Control-Request-Method": "POST"})
    out["cors_preflight_status"] = r.status_code
    out["cors_allow_origin_header"] = r.headers.get("access-control-allow-origin")
    httpx.post(url + "/v1/classify", json={"texts": [probe_text]}, timeout=60)
    time.sleep(0.5)
    text = log.read_text(errors="replace")
    out["log_lines"] = len(text.splitlines())
    out["log_has_passage_text"] = probe_text in text
    out["log_has_token"] = token in text
    return out


def _log_5xx(text: str) -> dict[str, int]:
    """5xx answers in the service's access log, and how many of them lack a request id."""
    n = missing = 0
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if row.get("event") == "request" and int(row.get("status", 0)) >= 500:
            n += 1
            missing += not row.get("request_id")
    return {"5xx": n, "without_request_id": missing}


def audit() -> dict[str, Any]:
    """`scripts/audit.py --json`: pip-audit over the environment, known findings excluded."""
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "audit.py"), "--json"], capture_output=True,
                         text=True, cwd=ROOT, check=False)
    try:
        return json.loads(out.stdout)
    except ValueError:
        return {"ran": False, "error": (out.stderr or out.stdout).strip()[-300:], "known": {}}


def fault_tests() -> dict[str, Any]:
    report = Path(tempfile.mkdtemp()) / "faults.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                    "tests/serving/test_faults.py", "tests/training/test_faults.py",
                    "tests/serving/test_integration.py"], cwd=ROOT, capture_output=True, text=True, check=False,
                   env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    import xml.etree.ElementTree as ET

    cases = []
    for tc in ET.parse(report).getroot().iter("testcase"):
        failed = tc.find("failure") is not None or tc.find("error") is not None
        skipped = tc.find("skipped") is not None
        cases.append({"test": f"{tc.get('classname', '').rsplit('.', 1)[-1]}::{tc.get('name')}",
                      "result": "failed" if failed else "skipped" if skipped else "passed",
                      "seconds": float(tc.get("time", 0))})
    return {"cases": cases, "passed": sum(c["result"] == "passed" for c in cases)}


def test_texts() -> list[str]:
    """Test-split passages of 40-120 words: the request bodies of the load phases."""
    from labels.codebook import load_codebook
    from labels.dataset import load_corpus

    corpus = load_corpus(None, load_codebook(None))
    return [t for t in corpus.splits["test"]["text"] if 40 <= len(t.split()) <= 120]


def payload_files(work: Path, texts: list[str]) -> tuple[Path, Path]:
    one = work / "p1.json"
    one.write_text(json.dumps([{"texts": [t]} for t in texts]))
    many = work / "p32.json"
    many.write_text(json.dumps([{"texts": [texts[(i + k) % len(texts)] for k in range(32)]}
                                for i in range(0, len(texts), 32)]))
    return one, many


def main() -> int:
    parser = argparse.ArgumentParser(description="reliability run (see the module docstring)")
    parser.add_argument("--model-uri", default="models:/stance-framing@champion")
    parser.add_argument("--soak-seconds", type=float, default=300)
    parser.add_argument("--fuzz-examples", type=int, default=1000, help="per API operation and generation mode")
    parser.add_argument("--skip-fault-tests", action="store_true")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    work = Path(tempfile.mkdtemp(prefix="reliability-"))
    token = secrets.token_urlsafe(24)
    log = work / "service.log"
    texts = test_texts()
    p1, p32 = payload_files(work, texts)
    settings = Settings()
    seen: list[tuple[int, bool]] = []
    probe = f"Probe passage {secrets.token_hex(8)} about a ceasefire line and guarantees for Kyiv."
    f: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "model_uri": args.model_uri,
                         "max_article_passages": settings.max_article_passages,
                         "soak_seconds": args.soak_seconds, "fuzz_examples": args.fuzz_examples}
    proc, url = start_service(args.model_uri, token, log)
    try:
        f["ready"] = httpx.get(url + "/readyz").json()
        print("fuzzing ...", flush=True)
        f["fuzz"] = fuzz(url, args.fuzz_examples, work)
        print(f"  {f['fuzz']['requests']} requests, 5xx {f['fuzz']['server_errors']}", flush=True)
        from experiments.benchmarks.hostile import run_matrix, slow_loris

        f["matrix"] = run_matrix(url)
        f["slow_loris"] = dict(zip(("status", "seconds"), slow_loris(url, stall_s=60), strict=True))
        print(f"  matrix: {sum(r['ok'] for r in f['matrix'])}/{len(f['matrix'])} as expected; slow loris "
              f"{f['slow_loris']}", flush=True)
        print(f"soak {args.soak_seconds:.0f} s ...", flush=True)
        f["soak"] = soak(url, proc.pid, args.soak_seconds, p1)
        print(f"  {f['soak']['requests']} requests, errors {f['soak']['errors']}, p99 {f['soak']['p99_ms']:.0f} ms, "
              f"RSS {f['soak']['rss_first_mb']:.0f} -> {f['soak']['rss_last_mb']:.0f} MB", flush=True)
        print("past capacity ...", flush=True)
        f["capacity"] = past_capacity(url, p32, p1)
        f["rss_after_mb"] = tree_rss_mb(proc.pid)[0]
        f["access"] = access(url, token, log, probe)
        print("abusive articles ...", flush=True)
        f["abuse"] = edge.abusive_articles(url, proc.pid, texts, settings.max_article_passages, p1, loadgen, seen)
        print(f"  worst article {f['abuse']['worst']['status']} in {f['abuse']['worst']['seconds']:.1f} s; /healthz "
              f"p99 {f['abuse']['healthz']['p99_ms']:.1f} ms", flush=True)
        print("idle connections ...", flush=True)
        f["connections"] = edge.idle_connections(url, settings.header_timeout_s, settings.max_connections, seen)
        log_text = log.read_text(errors="replace")
        f["service_log_5xx"] = _log_5xx(log_text)
    finally:
        stop(proc)
    print("credentials ...", flush=True)
    f["credentials"] = edge.credentials(work, token, seen)
    f["seen"] = edge.summary_of_seen(seen)
    print("dependency audit ...", flush=True)
    f["audit"] = audit()
    if not args.skip_fault_tests:
        print("fault tests ...", flush=True)
        f["faults"] = fault_tests()
    report = render(f)
    args.out.write_text(report)
    print(report)
    log_to_mlflow(f, args.out)
    failures = verdicts(f)
    return 1 if any(not ok for _, _, ok in failures) else 0


if __name__ == "__main__":
    sys.exit(main())
