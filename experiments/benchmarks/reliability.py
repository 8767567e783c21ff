"""Reliability and security figures from one real run against the served champion.

    .venv/bin/python experiments/benchmarks/reliability.py                 # 5-minute soak (make reliability)
    .venv/bin/python experiments/benchmarks/reliability.py --soak-seconds 20 --fuzz-examples 50   # quick look

Starts the service (`python -m serving`, default settings, an admin token set) on a loopback port
over the registered model (default `models:/stance-framing@champion`) and, with every client in
a separate process:

1. Fuzz: the schemathesis suite (`tests/serving/test_schema_fuzz.py`) pointed at the live service,
   valid and invalid requests generated from its OpenAPI schema; counts requests and statuses.
2. The hand-written hostile matrix (`tests/serving/hostile.py`) and a slow-loris body.
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
import platform
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
from experiments.benchmarks.procs import cpu_name, free_port, stop, tree_rss_mb, wait_ready
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
        from tests.serving.hostile import run_matrix, slow_loris

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


def verdicts(f: dict[str, Any]) -> list[tuple[str, str, bool]]:
    fz, s, cap, acc = f["fuzz"], f["soak"], f["capacity"], f["access"]
    burst = cap["burst"]
    n503 = burst["statuses"].get("503", 0)
    out = [
        ("fuzz: generated requests, none answered 5xx", f"{fz['requests']} requests, {fz['server_errors']} 5xx",
         fz["requests"] >= 2000 and fz["server_errors"] == 0),
        ("hostile matrix: every case answered as expected, rejections 4xx with a reason",
         f"{sum(r['ok'] for r in f['matrix'])}/{len(f['matrix'])}", all(r["ok"] for r in f["matrix"])),
        ("slow-loris body cut off", f"status {f['slow_loris']['status']} after {f['slow_loris']['seconds']:.1f} s",
         f["slow_loris"]["status"] == 408),
        ("soak: no errors at concurrency 16", f"{s['errors']} of {s['requests']}", s["errors"] == 0),
        ("soak: memory flat after warm-up (middle fifth -> last fifth under 3%)",
         (f"fifths {' / '.join(f'{v:.0f}' for v in s['rss_fifths_mb'])} MB; second half "
         f"{s['rss_second_half_growth_mb']:+.0f} MB"), s["rss_second_half_growth_mb"] < 0.03 * s["rss_fifths_mb"][2]),
        ("past capacity: 503 with Retry-After, no other error",
         (f"{n503} x 503 of {burst['requests']}, Retry-After {burst['retry_after_on_503']}, other statuses "
         f"{ {k: v for k, v in burst['statuses'].items() if k not in ('200', '503')} }"),
         n503 > 0 and bool(burst["retry_after_on_503"]) and set(burst["statuses"]) <= {"200", "503"}),
        ("recovery after the burst", f"{cap['after']['ok']}/{cap['after']['requests']} ok, /readyz {cap['ready_after']}",
         cap["after"]["errors"] == 0 and cap["ready_after"] == 200),
        ("admin route needs the bearer token", (f"none {acc['reload_no_token']}, wrong {acc['reload_wrong_token']}, "
         f"right {acc['reload_right_token']}"), acc["reload_no_token"] == 401 and acc["reload_wrong_token"] == 401
         and acc["reload_right_token"] == 200),
        ("CORS off by default", f"no Access-Control-Allow-Origin (got {acc['cors_allow_origin_header']!r})",
         acc["cors_allow_origin_header"] is None),
        ("log holds no passage text and no token", f"{acc['log_lines']} lines checked",
         not acc["log_has_passage_text"] and not acc["log_has_token"]),
        ("dependency audit (pip-audit)", (f"{f['audit']['packages']} packages, findings {f['audit']['findings']}"
                                          if f["audit"]["ran"] else f"not run: {f['audit']['error']}"),
         f["audit"]["ran"] and not f["audit"]["findings"]),
    ]
    ab, con, cred, seen = f["abuse"], f["connections"], f["credentials"], f["seen"]
    gave = ab["gave_up"]
    flood = con["flood"]
    out += [
        ("300 KB of one-character lines refused at once (passage cap)",
         f"{ab['lines_100k']['status']} in {ab['lines_100k']['seconds'] * 1000:.0f} ms",
         ab["lines_100k"]["status"] == 413 and ab["lines_100k"]["seconds"] < 5),
        ("10,000 one-word paragraphs joined into readable passages",
         f"{ab['words_10k']['status']}, {ab['words_10k']['passages']} passages in {ab['words_10k']['seconds']:.1f} s",
         ab["words_10k"]["status"] == 200 and (ab["words_10k"]["passages"] or 10**9) <= 200),
        ("/healthz p99 under 50 ms while the largest accepted article runs",
         (f"article {ab['worst']['status']} in {ab['worst']['seconds']:.1f} s; /healthz p99 {ab['healthz']['p99_ms']:.1f} ms, max {ab['healthz']['max_ms']:.1f} ms over {ab['healthz']['n']} probes, "
         f"{ab['healthz']['non_200']} not 200"),
         ab["worst"]["status"] == 200 and ab["healthz"]["p99_ms"] < 50 and ab["healthz"]["non_200"] == 0),
        ("short requests beside the largest article are served, not refused",
         f"{ab['side_load'].get('statuses')}, p99 {ab['side_load'].get('p99_ms') or float('nan'):.0f} ms",
         ab["side_load"].get("errors", 1) == 0),
        ("a client that gives up stops its work",
         f"finished before the client's {edge.GIVE_UP_S:g} s" if gave["finished_before_timeout"] else
         f"{gave['passages_in_next_3s']:.0f} passages labelled in the 3 s after it left (1 s grace: "
         f"{gave['passages_by_1s_after']:.0f} of {gave['article_passages']}); 499s logged {ab['status_499']:.0f}",
         gave["finished_before_timeout"] or (gave["passages_in_next_3s"] == 0 and ab["status_499"] >= 1)),
        ("memory bounded by the article cap",
         f"{ab['rss_before_mb']:.0f} -> {ab['rss_after_mb']:.0f} MB (peak {ab['rss_peak_mb']:.0f} MB)",
         ab["rss_after_mb"] - ab["rss_before_mb"] < 150),
        ("MLflow-protocol bodies that used to 500: JSON 4xx with a request id",
         ", ".join(f"{k} {v['status']}" for k, v in ab["invocations"].items()),
         all(400 <= v["status"] < 500 and v["json"] and v["request_id"] for v in ab["invocations"].values())),
        ("600 idle connections closed by the header timeout",
         (f"all closed after {con['idle_600']['closed_after_s']:.1f} s ({con['idle_600']['answered_408']} with a 408; "
         f"timeout {con['header_timeout_s']:g} s); /healthz meanwhile {con['healthz_with_600_idle']}"),
         con["idle_600"]["closed_after_s"] < con["header_timeout_s"] + 5 and con["healthz_with_600_idle"] == 200),
        ("connections over the cap refused cleanly, and service back after",
         (f"{flood['opened']} opened, {flood['refused_503']} answered 503 ({flood['refused_with_request_id']} with a "
         f"request id), {flood['reset_or_silent']} reset or silent; /healthz during {flood['healthz_during']}, 200 "
         f"again after {flood['healthz_ok_again_after_s']:.1f} s"),
         flood["refused_503"] >= flood["opened"] - con["max_connections"] and flood["reset_or_silent"] == 0
         and flood["healthz_ok_again_after_s"] < 30),
        ("no secret of the registry URI in any response or log line",
         (f"{cred['secrets_in_responses']} in {cred['responses']} responses, {cred['secrets_in_log']} in "
         f"{cred['log_lines']} log lines"), cred["secrets_in_responses"] == 0 and cred["secrets_in_log"] == 0),
        ("no 5xx without a request id",
         (f"{seen['5xx_without_request_id']} of {seen['5xx']} 5xx among {seen['responses']} responses checked; "
         f"access log: {f['service_log_5xx']['without_request_id']} of {f['service_log_5xx']['5xx']}"),
         seen["5xx_without_request_id"] == 0 and f["service_log_5xx"]["without_request_id"] == 0),
    ]
    if "faults" in f:
        c = f["faults"]["cases"]
        out.append(("fault tests pass", f"{f['faults']['passed']}/{len(c)}", all(x["result"] == "passed" for x in c)))
    return out


def render(f: dict[str, Any]) -> str:
    rows = verdicts(f)
    fz, s = f["fuzz"], f["soak"]
    lines = [
        "# Reliability and security: measured", "",
        (f"Generated by `.venv/bin/python experiments/benchmarks/reliability.py` (`make reliability`) on {f['date']}; "
        f"service `python -m serving` with default settings over `{f['model_uri']}` (version "
        f"{f['ready'].get('version')}); every client in a separate process on loopback."),
        f"Machine: {cpu_name()}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}.", "",
        "## Verdicts", "", "| check | measured | ok |", "|---|---|---|",
        *[f"| {a} | {b} | {'yes' if ok else '**no**'} |" for a, b, ok in rows],
        "", "## Fuzzing (schemathesis, valid and invalid requests from the OpenAPI schema)", "",
        (f"{fz['requests']} requests in {fz['seconds']:.0f} s ({f['fuzz_examples']} examples per operation and mode; "
        f"modes {fz['modes']}); statuses {fz['statuses']}; pytest: {' '.join(fz['pytest_tail'])}."), "",
        "| operation | requests |", "|---|---:|",
        *[f"| `{op}` | {n} |" for op, n in sorted(fz["operations"].items())],
        "", "## Hand-written hostile matrix (`tests/serving/hostile.py`)", "",
        "| case | status | expected | reason given |", "|---|---:|---|---|",
        *[f"| {r['case']} | {r['status']} | {r.get('expected')} | {(r['detail'] or '').replace('|', '/')[:110]} |"
          for r in f["matrix"]],
        (f"\nSlow loris (10 of the body's bytes sent, then silence): status {f['slow_loris']['status']} after "
        f"{f['slow_loris']['seconds']:.1f} s (`STANCE_BODY_TIMEOUT_S`, default 10), connection closed."),
        "", "## Soak", "",
        (f"{f['soak_seconds']:.0f} s of single-passage `/v1/classify` requests at concurrency 16: {s['requests']} requests, "
        f"{s['errors']} errors (rate {s['error_rate']:.4f}), {s['passages_per_s']:.1f} passages/s, p50 "
        f"{s['p50_ms']:.0f} ms, p95 {s['p95_ms']:.0f} ms, p99 {s['p99_ms']:.0f} ms. Resident memory sampled "
        f"{s['rss_samples']} times: medians of each fifth of the soak "
        f"{' / '.join(f'{v:.0f}' for v in s['rss_fifths_mb'])} MB (first to last {s['rss_growth_mb']:+.0f} MB: "
        f"allocator and thread pools warming up; second half {s['rss_second_half_growth_mb']:+.0f} MB), "
        f"max {s['rss_max_mb']:.0f} MB. glibc malloc arenas are capped at 2 (`serving/__main__.py`): "
        "in 210-s soaks before this run, uncapped memory grew from 632 to 707 MB, capped (MALLOC_ARENA_MAX=2 in the environment) from 602 to 653 MB and was flat after 90 s."),
        "", "## Past capacity", "",
        (f"32-passage requests at concurrency 64 for 20 s (queue limit `STANCE_MAX_QUEUE` 512 passages): statuses "
        f"{f['capacity']['burst']['statuses']}, Retry-After {f['capacity']['burst']['retry_after_on_503']}; "
        f"p99 {f['capacity']['burst']['p99_ms']:.0f} ms. Then 50 single-passage requests at concurrency 4: "
        f"{f['capacity']['after']['statuses']}; `/readyz` {f['capacity']['ready_after']}. Resident memory after "
        f"all load: {f['rss_after_mb']:.0f} MB."),
    ]
    ab, con, cred = f["abuse"], f["connections"], f["credentials"]
    lines += [
        "", "## Abusive articles", "",
        (f"- 100,000 one-character lines (300 KB): {ab['lines_100k']['status']} in "
        f"{ab['lines_100k']['seconds'] * 1000:.0f} ms: \"{ab['lines_100k']['detail']}\""),
        (f"- 10,000 one-word paragraphs: {ab['words_10k']['status']}, {ab['words_10k']['passages']} passages, "
        f"{ab['words_10k']['bytes'] / 1000:.0f} KB answer in {ab['words_10k']['seconds']:.1f} s."),
        (f"- The largest accepted article (`STANCE_MAX_ARTICLE_PASSAGES` = {f['max_article_passages']} passages with "
        f"the title, {ab['worst_chars']} characters): {ab['worst']['status']} in {ab['worst']['seconds']:.1f} s, "
        f"{ab['worst']['bytes'] / 1000:.0f} KB answer. Meanwhile `/healthz` every 20 ms: p50 "
        f"{ab['healthz']['p50_ms']:.1f} ms, p99 {ab['healthz']['p99_ms']:.1f} ms, max {ab['healthz']['max_ms']:.1f} ms "
        f"({ab['healthz']['n']} probes); single-passage `/v1/classify` at concurrency 4 for "
        f"{edge.SIDE_LOAD_S:g} s (the article sent 1 s in): {ab['side_load'].get('statuses')}, p50 "
        f"{ab['side_load'].get('p50_ms') or float('nan'):.0f} ms, p99 {ab['side_load'].get('p99_ms') or float('nan'):.0f} ms."),
        (f"- A client that gives up after {edge.GIVE_UP_S:g} s on that article: it finished first."
         if ab["gave_up"]["finished_before_timeout"] else
         f"- A client that gives up after {edge.GIVE_UP_S:g} s on that article: within 1 s of its leaving the service "
         f"had labelled {ab['gave_up']['passages_by_1s_after']:.0f} of its {ab['gave_up']['article_passages']} "
         f"passages (the batches already running finish), and {ab['gave_up']['passages_in_next_3s']:.0f} in the 3 s "
         f"after that; requests logged with status 499 so far: {ab['status_499']:.0f}."),
        (f"- Resident memory: {ab['rss_before_mb']:.0f} MB before these cases, {ab['rss_after_worst_mb']:.0f} MB after "
        f"the largest article, {ab['rss_after_mb']:.0f} MB at the end (peak of the run {ab['rss_peak_mb']:.0f} MB)."),
        "", "| `/invocations` body | status | JSON | request id | detail |", "|---|---:|---|---|---|",
        *[f"| {k} | {v['status']} | {v['json']} | {v['request_id']} | {v['detail'].replace('|', '/')} |"
          for k, v in ab["invocations"].items()],
        "", "## Connections", "",
        (f"- 600 connections that never send a request (`STANCE_HEADER_TIMEOUT_S` = {con['header_timeout_s']:g}): all "
        f"closed by the service after {con['idle_600']['closed_after_s']:.1f} s, {con['idle_600']['answered_408']} "
        f"of them with a 408; `/healthz` while they were open: {con['healthz_with_600_idle']}."),
        (f"- {con['max_connections'] + 200} connections at once (`STANCE_MAX_CONNECTIONS` = {con['max_connections']}): "
        f"{con['flood']['opened']} opened in {con['flood']['seconds_to_open']:.1f} s, {con['flood']['refused_503']} "
        f"answered 503 with Retry-After and closed, {con['flood']['answered_408']} closed later with a 408, "
        f"{con['flood']['reset_or_silent']} reset or silent; `/healthz` during the flood: "
        f"{con['flood']['healthz_during']}; 200 again {con['flood']['healthz_ok_again_after_s']:.1f} s after the "
        "client closed its connections."),
        "", "## Credentials", "",
        (f"A second service with `STANCE_TRACKING_URI=http://analyst:<password>@127.0.0.1:<closed port>/mlflow?"
        f"access_token=<token>`: {cred['responses']} responses (statuses {cred['statuses']}) and {cred['log_lines']} "
        f"log lines searched; the password or token found {cred['secrets_in_responses']} times in responses and "
        f"{cred['secrets_in_log']} times in the log; redacted form `***` shown: {cred['redacted_shown']}."),
        "", f"Responses checked for request ids across these sections: {f['seen']}.",
    ]
    if "faults" in f:
        lines += ["", "## Fault tests (run by this script and by `make test`)", "", "| test | result | s |",
                  "|---|---|---:|", *[f"| `{c['test']}` | {c['result']} | {c['seconds']:.1f} |"
                                      for c in f["faults"]["cases"]]]
    known = "; ".join(f"{k}: {v}" for k, v in f["audit"].get("known", {}).items()) or "none"
    lines += ["", "## Dependency audit", "",
              "`scripts/audit.py` (pip-audit over the project's environment; also run by `make test`): "
              + (f"{f['audit']['packages']} packages, findings {f['audit']['findings'] or 'none'}."
                 if f["audit"]["ran"] else f"could not run ({f['audit']['error']})."),
              f"Known findings accepted: {known}."]
    return "\n".join(lines) + "\n"


def log_to_mlflow(f: dict[str, Any], report: Path) -> None:
    import mlflow

    from training import tracking

    tracking.configure()
    exp = tracking.ensure_experiment("benchmarks")
    s = f["soak"]
    metrics = {"fuzz_requests": f["fuzz"]["requests"], "fuzz_5xx": f["fuzz"]["server_errors"],
               "matrix_cases": len(f["matrix"]), "matrix_ok": sum(r["ok"] for r in f["matrix"]),
               "soak_requests": s["requests"], "soak_errors": s["errors"], "soak_p99_ms": s["p99_ms"],
               "soak_rss_growth_mb": s["rss_growth_mb"], "soak_rss_last_mb": s["rss_last_mb"],
               "capacity_503": f["capacity"]["burst"]["statuses"].get("503", 0),
               "recovery_errors": f["capacity"]["after"]["errors"],
               "abuse_healthz_p99_ms": f["abuse"]["healthz"]["p99_ms"],
               "abuse_worst_article_s": f["abuse"]["worst"]["seconds"],
               "abuse_rss_growth_mb": f["abuse"]["rss_after_mb"] - f["abuse"]["rss_before_mb"],
               "idle_closed_after_s": f["connections"]["idle_600"]["closed_after_s"],
               "connections_refused_503": f["connections"]["flood"]["refused_503"],
               "secrets_leaked": f["credentials"]["secrets_in_responses"] + f["credentials"]["secrets_in_log"],
               "5xx_without_request_id": f["seen"]["5xx_without_request_id"]}
    with mlflow.start_run(experiment_id=exp, run_name=f"reliability-{time.strftime('%Y%m%d-%H%M%S')}",
                          tags={"benchmark": "reliability", **tracking.git_info()}):
        mlflow.log_params({"model_uri": f["model_uri"], "soak_seconds": f["soak_seconds"]})
        mlflow.log_metrics(metrics)
        mlflow.log_artifact(str(report))


if __name__ == "__main__":
    sys.exit(main())
