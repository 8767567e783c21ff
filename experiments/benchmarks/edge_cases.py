"""The HTTP-edge cases of the reliability run: abusive articles, idle connections, leaked credentials.

Each function probes a running service from this process (the steady classify load comes from
`loadgen.py` in its own process) and returns plain figures; `reliability.py` renders and judges them.
Every response seen is kept as (status, has request id) so that the run can count 5xx without one.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from experiments.benchmarks.loadgen import percentile
from experiments.benchmarks.procs import free_port, stop, tree_rss_mb, wait_ready


def _seen(r: httpx.Response, log: list[tuple[int, bool]]) -> httpx.Response:
    rid = r.headers.get("x-request-id")
    try:
        rid = rid and r.json().get("request_id", rid) if r.status_code >= 400 else rid
    except ValueError:
        rid = None  # an error that is not JSON has no request id a client can read
    log.append((r.status_code, bool(rid)))
    return r


def _metric(url: str, name: str, **labels: str) -> float:
    """Sum of a Prometheus metric's samples from /metrics whose labels include ``labels``."""
    total = 0.0
    for m in re.finditer(r"^(\w+)(?:\{([^}]*)\})? (\S+)$", httpx.get(url + "/metrics", timeout=10).text, re.MULTILINE):
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if m.group(1) == name and all(have.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
    return total


GIVE_UP_S = 0.5
"""Seconds after which the impatient client leaves the largest article (it takes a few seconds)."""
SIDE_LOAD_S = 25.0
"""Seconds of short requests sent beside the largest article (it starts 1 s into them)."""


def worst_article(texts: list[str], passages: int) -> str:
    """An article of exactly ``passages`` text passages: paragraphs of 40-100 words, each one passage."""
    fit = [t for t in texts if 40 <= len(t.split()) <= 100]
    return "\n\n".join(fit[i % len(fit)] for i in range(passages))


def abusive_articles(url: str, pid: int, texts: list[str], max_passages: int, payloads1: Path,
                     loadgen: Any, seen: list[tuple[int, bool]]) -> dict[str, Any]:
    out: dict[str, Any] = {"rss_before_mb": tree_rss_mb(pid)[0]}

    def timed_post(path: str, body: dict, timeout: float = 120) -> dict[str, Any]:
        t0 = time.perf_counter()
        r = _seen(httpx.post(url + path, json=body, timeout=timeout), seen)
        detail = r.json().get("detail") if r.status_code >= 400 else None
        n = len(r.json().get("passages", [])) if r.status_code == 200 and path == "/v1/articles" else None
        return {"status": r.status_code, "seconds": time.perf_counter() - t0, "detail": detail, "passages": n,
                "bytes": len(r.content)}

    out["lines_100k"] = timed_post("/v1/articles", {"text": "a\n" * 100_000})
    out["words_10k"] = timed_post("/v1/articles", {"text": "word\n" * 10_000})
    article = worst_article(texts, max_passages - 1)
    out["worst_chars"] = len(article)

    # the largest accepted article, with /healthz probed and short requests running beside it
    health: list[float] = []
    health_status: list[int] = []
    stop_probe = threading.Event()

    def probe() -> None:
        with httpx.Client(timeout=10) as c:
            while not stop_probe.is_set():
                t0 = time.perf_counter()
                r = c.get(url + "/healthz")
                health.append((time.perf_counter() - t0) * 1000)
                health_status.append(r.status_code)
                stop_probe.wait(0.02)

    side: dict[str, Any] = {}
    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    runner = threading.Thread(target=lambda: side.update(
        loadgen(url + "/v1/classify", payloads1, 10**9, 4, SIDE_LOAD_S, 1)), daemon=True)
    runner.start()
    time.sleep(1.0)
    out["worst"] = timed_post("/v1/articles", {"title": "Guarantees, land and the risk of escalation",
                                               "text": article})
    runner.join()
    stop_probe.set()
    prober.join()
    out["side_load"] = side
    out["healthz"] = {"n": len(health), "p50_ms": percentile(health, 50) if health else float("nan"),
                      "p99_ms": percentile(health, 99) if health else float("nan"),
                      "max_ms": max(health, default=float("nan")),
                      "non_200": sum(s != 200 for s in health_status)}
    out["rss_after_worst_mb"] = tree_rss_mb(pid)[0]

    # a client that gives up: its work must stop soon after it leaves (passages counted as batches start)
    before = _metric(url, "model_batch_size_sum")
    t0 = time.perf_counter()
    try:
        httpx.post(url + "/v1/articles", json={"text": article}, timeout=GIVE_UP_S)
        out["gave_up"] = {"finished_before_timeout": True}
    except httpx.TimeoutException:
        time.sleep(1.0)  # the batch running when the client left may still finish
        at_leave = _metric(url, "model_batch_size_sum")
        time.sleep(3.0)
        after = _metric(url, "model_batch_size_sum")
        out["gave_up"] = {"finished_before_timeout": False, "passages_by_1s_after": at_leave - before,
                          "passages_in_next_3s": after - at_leave, "article_passages": max_passages,
                          "seconds": time.perf_counter() - t0}
    out["status_499"] = _metric(url, "http_requests_total", route="/v1/articles", status="499")

    # bodies of the MLflow protocol that used to end in invisible 500s
    inv = {}
    for name, body in {"targets a number": {"inputs": ["Kyiv wants guarantees."], "params": {"targets": 5}},
                       "targets a boolean": {"inputs": ["Kyiv wants guarantees."], "params": {"targets": True}},
                       "targets an object": {"inputs": ["Kyiv wants guarantees."], "params": {"targets": {"a": 1}}},
                       "a 5,000-digit integer": None}.items():
        content = json.dumps(body).encode() if body else b'{"inputs": [' + b"9" * 5000 + b"]}"
        r = _seen(httpx.post(url + "/invocations", content=content, headers={"content-type": "application/json"},
                             timeout=30), seen)
        inv[name] = {"status": r.status_code, "json": r.headers.get("content-type", "").startswith("application/json"),
                     "request_id": bool(r.headers.get("x-request-id")),
                     "detail": (r.json().get("detail") if r.headers.get("content-type", "").startswith(
                         "application/json") else r.text)[:120]}
    out["invocations"] = inv
    out["rss_after_mb"] = tree_rss_mb(pid)[0]
    out["rss_peak_mb"] = tree_rss_mb(pid)[1]
    return out


def _drain(socks: list[socket.socket], limit_s: float) -> tuple[list[bytes], float]:
    """Read every socket until the server closes it (or ``limit_s`` passes): (replies, seconds to the last close)."""
    sel = selectors.DefaultSelector()
    replies = {s.fileno(): b"" for s in socks}
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    t0 = time.perf_counter()
    last = 0.0
    open_n = len(socks)
    while open_n and time.perf_counter() - t0 < limit_s:
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            try:
                chunk = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                chunk = b""
            if chunk:
                replies[s.fileno()] += chunk
            else:
                sel.unregister(s)
                open_n -= 1
                last = time.perf_counter() - t0
    sel.close()
    return [replies[s.fileno()] for s in socks], (last if not open_n else float("inf"))


def idle_connections(url: str, header_timeout: float, max_connections: int,
                     seen: list[tuple[int, bool]]) -> dict[str, Any]:
    host, port = url.removeprefix("http://").split(":")
    out: dict[str, Any] = {"header_timeout_s": header_timeout, "max_connections": max_connections}
    socks = [socket.create_connection((host, int(port))) for _ in range(600)]
    time.sleep(0.5)
    out["healthz_with_600_idle"] = _seen(httpx.get(url + "/healthz", timeout=10), seen).status_code
    replies, closed_after = _drain(socks, header_timeout + 30)
    out["idle_600"] = {"closed_after_s": closed_after, "answered_408": sum(r.startswith(b"HTTP/1.1 408") for r in replies)}
    for s in socks:
        s.close()

    flood_n = max_connections + 200
    t0 = time.perf_counter()
    socks = []
    for _ in range(flood_n):
        try:
            socks.append(socket.create_connection((host, int(port)), timeout=5))
        except OSError:
            break
    out["flood"] = {"opened": len(socks), "seconds_to_open": time.perf_counter() - t0}
    time.sleep(0.3)
    try:
        r = httpx.get(url + "/healthz", timeout=10)
        out["flood"]["healthz_during"] = _seen(r, seen).status_code
        out["flood"]["healthz_during_retry_after"] = r.headers.get("retry-after")
    except httpx.HTTPError as exc:
        out["flood"]["healthz_during"] = f"{type(exc).__name__}"
    replies, _ = _drain(socks, header_timeout + 30)
    refused = [r for r in replies if r.startswith(b"HTTP/1.1 503")]
    out["flood"]["refused_503"] = len(refused)
    out["flood"]["refused_with_request_id"] = sum(b"x-request-id:" in r for r in refused)
    out["flood"]["answered_408"] = sum(r.startswith(b"HTTP/1.1 408") for r in replies)
    out["flood"]["reset_or_silent"] = sum(not r for r in replies)
    seen.extend((503, b"x-request-id:" in r) for r in refused)
    for s in socks:
        s.close()
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 60:
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    out["flood"]["healthz_ok_again_after_s"] = time.perf_counter() - t0
    return out


def credentials(work: Path, token: str, seen: list[tuple[int, bool]]) -> dict[str, Any]:
    """A service whose registry URI holds secrets and cannot be reached: search everything it says."""
    password, query_token = "pw-" + secrets.token_hex(8), "tk-" + secrets.token_hex(8)
    closed_port = free_port()
    uri = f"http://analyst:{password}@127.0.0.1:{closed_port}/mlflow?access_token={query_token}"
    log = work / "service-credentials.log"
    port = free_port()
    env = {**os.environ, "STANCE_TRACKING_URI": uri, "STANCE_ADMIN_TOKEN": token,
           "STANCE_CACHE_DIR": str(work / "empty-cache"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "serving", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    bodies: list[str] = []
    try:
        wait_ready(proc, base + "/healthz", 120, log)
        time.sleep(4.0)  # a few load attempts and retries reach the log
        with httpx.Client(timeout=60) as c:
            probes = [c.get(base + "/readyz"), c.get(base + "/v1/model"), c.get(base + "/v1/labels"),
                      c.post(base + "/v1/classify", json={"texts": ["Kyiv asks for guarantees."]}),
                      c.post(base + "/v1/articles", json={"text": "Kyiv asks for guarantees."}),
                      c.post(base + "/invocations", json={"inputs": ["Kyiv asks for guarantees."]}),
                      c.post(base + "/admin/reload", headers={"Authorization": f"Bearer {token}"}),
                      c.get(base + "/metrics")]
        for r in probes:
            _seen(r, seen)
            bodies.append(f"{r.status_code} {dict(r.headers)} {r.text}")
    finally:
        stop(proc)
    text = log.read_text(errors="replace")
    everything = "\n".join(bodies)
    return {"responses": len(bodies), "statuses": [int(b.split()[0]) for b in bodies],
            "secrets_in_responses": everything.count(password) + everything.count(query_token),
            "secrets_in_log": text.count(password) + text.count(query_token), "log_lines": len(text.splitlines()),
            "redacted_shown": "***" in everything}


def summary_of_seen(seen: list[tuple[int, bool]]) -> dict[str, Any]:
    return {"responses": len(seen), "5xx": sum(s >= 500 for s, _ in seen),
            "5xx_without_request_id": sum(s >= 500 and not rid for s, rid in seen),
            "statuses": dict(sorted(Counter(str(s) for s, _ in seen).items()))}
