"""The reliability run's report: the verdicts, RELIABILITY.md, and the MLflow run (``reliability.py``
measures)."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from experiments.benchmarks import edge_cases as edge
from experiments.benchmarks.procs import cpu_name
from training import tracking


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
        "", "## Hand-written hostile matrix (`experiments/benchmarks/hostile.py`)", "",
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
    tracking.configure()
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
    tracking.log_benchmark("reliability", "reliability", {"model_uri": f["model_uri"], "soak_seconds": f["soak_seconds"]},
                           metrics, report)
