"""Closed-loop HTTP load from its own process: ``concurrency`` workers each send a request, wait
for the answer and send the next, until ``--requests`` are done or ``--max-seconds`` have passed.

    python experiments/benchmarks/loadgen.py --url URL --payloads FILE.json --requests N --concurrency C
        [--max-seconds S] [--warmup W] [--passages-per-request K]

``FILE.json`` is a list of JSON request bodies, sent in rotation. Prints one JSON object: requests
completed, errors (non-2xx or transport failures, by status), wall seconds, throughput in requests/s
and passages/s, latency p50/p95/p99 in milliseconds, and the status codes seen. Used by
``serving.py`` and the reliability soak so that the client never shares a process (or a GIL) with
the server it measures.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty list."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def run(url: str, bodies: list[bytes], requests: int, concurrency: int, max_seconds: float, warmup: int,
        per_request: int, headers: dict[str, str] | None = None) -> dict:
    client = httpx.Client(timeout=120, limits=httpx.Limits(max_connections=concurrency,
                                                          max_keepalive_connections=concurrency))
    hdrs = {"content-type": "application/json", **(headers or {})}
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    retry_after: list[str] = []
    issued = 0
    deadline = 0.0

    def send(i: int) -> tuple[float, str, str | None]:
        t0 = time.perf_counter()
        try:
            r = client.post(url, content=bodies[i % len(bodies)], headers=hdrs)
            status = str(r.status_code)
            ra = r.headers.get("retry-after")
        except httpx.HTTPError as exc:
            status, ra = type(exc).__name__, None
        return time.perf_counter() - t0, status, ra

    def worker() -> None:
        nonlocal issued
        while True:
            with lock:
                if issued >= requests or time.perf_counter() > deadline:
                    return
                i = issued
                issued += 1
            lat, status, ra = send(i)
            with lock:
                latencies.append(lat)
                statuses[status] += 1
                if ra is not None and status == "503":
                    retry_after.append(ra)

    for i in range(warmup):
        send(i)
    started = time.perf_counter()
    deadline = started + max_seconds
    with ThreadPoolExecutor(concurrency) as pool:
        for _ in range(concurrency):
            pool.submit(worker)
    wall = time.perf_counter() - started
    client.close()
    done = len(latencies)
    ok = sum(n for s, n in statuses.items() if s.startswith("2"))
    return {
        "requests": done, "ok": ok, "errors": done - ok, "statuses": dict(statuses), "wall_s": wall,
        "requests_per_s": done / wall if wall else 0.0, "passages_per_s": ok * per_request / wall if wall else 0.0,
        "p50_ms": 1000 * percentile(latencies, 50) if done else None,
        "p95_ms": 1000 * percentile(latencies, 95) if done else None,
        "p99_ms": 1000 * percentile(latencies, 99) if done else None,
        "retry_after_on_503": sorted(set(retry_after)),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--payloads", required=True, type=Path, help="JSON file: a list of request bodies")
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--max-seconds", type=float, default=60.0)
    p.add_argument("--warmup", type=int, default=4)
    p.add_argument("--passages-per-request", type=int, default=1)
    p.add_argument("--header", action="append", default=[], help="extra header NAME:VALUE (repeatable)")
    args = p.parse_args(argv)
    bodies = [json.dumps(b).encode() for b in json.loads(args.payloads.read_text())]
    if not bodies:
        p.error(f"{args.payloads}: no request bodies")
    headers = dict(h.split(":", 1) for h in args.header)
    print(json.dumps(run(args.url, bodies, args.requests, args.concurrency, args.max_seconds, args.warmup,
                         args.passages_per_request, headers)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
