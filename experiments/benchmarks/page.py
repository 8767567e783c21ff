"""How fast the analyst's page opens and draws, in Debian's chromium, and the README's screenshots.

    MLFLOW_TRACKING_URI=sqlite:///$PWD/mlflow.db .venv/bin/python experiments/benchmarks/page.py [--loads 10]

Starts ``python -m serving`` on a free loopback port over the registered champion (corrections on, queued to
a temporary file), then in a headless chromium with every request beyond the service refused:

- opening the page until it says it is ready (its three GET calls answered): median over ``--loads``
  fresh loads;
- the seed article (``experiments/articles/seed_membership.json``): click to drawn passages;
- the largest article the service takes by default (255 paragraphs of the corpus's test split plus a
  title: 256 passages): click to drawn passages, and the drawing alone (the page's ``render`` run
  again on the same answer), median over 5 draws.

Writes ``docs/page.png`` (the seed article), ``docs/page-correction.png`` (the correction form) and
``experiments/benchmarks/PAGE.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from labels.codebook import load_codebook
from labels.dataset import load_corpus
from labels.splits import SplitConfig

OUT = Path(__file__).with_name("PAGE.md")
DOCS = ROOT / "docs"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic"]
TOKEN = "page-benchmark-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def large_article(passages: int = 255) -> str:
    """Test-split passages of the corpus of at most 100 words (so that none is cut in two), one paragraph each,
    repeated until ``passages`` paragraphs."""
    rows = load_corpus(None, load_codebook(), SplitConfig(seed=13)).splits["test"]
    texts = [r["text"] for r in rows if len(r["text"].split()) <= 100]
    return "\n".join(texts[i % len(texts)] for i in range(passages))


def start_service(port: int, queue: Path) -> subprocess.Popen:
    env = {**os.environ, "STANCE_PORT": str(port), "STANCE_ANNOTATION_TOKEN": TOKEN,
           "STANCE_CORRECTIONS_PATH": str(queue), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "serving"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise SystemExit("the service exited while starting; run `python -m serving` to see why")
        time.sleep(0.5)
    proc.terminate()
    raise SystemExit("the service was not ready within 300 s")


def label(page, title: str, text: str) -> float:
    """Fill the form, click, wait for the drawn passages; seconds from click to drawn."""
    page.fill("#title", title)
    page.fill("#text", text)
    page.evaluate("() => document.getElementById('passages').replaceChildren()")
    started = time.perf_counter()
    page.get_by_role("button", name="Label article").click()
    page.locator("#passages li.passage").first.wait_for(timeout=120_000)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", type=int, default=10)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    seed = json.loads((ROOT / "experiments" / "articles" / "seed_membership.json").read_text(encoding="utf-8"))
    big = large_article()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        proc = start_service(port, Path(tmp) / "corrections.jsonl")
        try:
            model = httpx.get(base + "/v1/model", timeout=10).json()
            refused: list[str] = []
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
                context = browser.new_context(viewport={"width": 1300, "height": 1000})

                def only_the_service(route):
                    if route.request.url.startswith(base + "/"):
                        route.continue_()
                    else:
                        refused.append(route.request.url)
                        route.abort()

                context.route("**/*", only_the_service)
                page = context.new_page()
                loads = []
                for _ in range(args.loads):
                    started = time.perf_counter()
                    page.goto(base + "/")
                    page.get_by_text("Ready. Paste an article").wait_for(timeout=30_000)
                    loads.append(time.perf_counter() - started)
                seed_s = label(page, seed["title"], seed["text"])
                page.screenshot(path=str(DOCS / "page.png"), full_page=True)
                page.get_by_role("button", name="Correct passage 1").click()
                page.screenshot(path=str(DOCS / "page-correction.png"))
                page.keyboard.press("Escape")
                big_s = label(page, "A long day of reports", big)
                drawn = page.locator("#passages li.passage").count()
                draws = [page.evaluate("""() => { const t = performance.now();
                    render(state.answer, {title: state.request.title, text: state.request.text});
                    return performance.now() - t; }""") for _ in range(5)]
                browser.close()
            if refused:
                raise SystemExit(f"the page asked for addresses outside the service: {refused}")
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    lines = [
        "<!-- generated by `experiments/benchmarks/page.py`; do not edit -->",
        "# The analyst's page in Debian's chromium (headless, loopback)",
        "",
        (f"Model: {model['name']} version {model['version']} (run {model['run_id']}), served by `python -m serving` "
        "on this 2-core machine, with the browser on the same machine."),
        "",
        "| measure | figure |",
        "|---|---|",
        (f"| opening the page until ready (its three API calls answered), median of {len(loads)} | "
        f"{statistics.median(loads) * 1000:.0f} ms (max {max(loads) * 1000:.0f} ms) |"),
        f"| seed article ({len(seed['text'])} characters), click to drawn passages | {seed_s * 1000:.0f} ms |",
        (f"| largest article ({len(big):,} characters, {drawn} passages), click to drawn passages | "
        f"{big_s * 1000:.0f} ms |"),
        f"| drawing that answer alone, median of 5 | {statistics.median(draws):.0f} ms |",
        "",
        "Click-to-drawn includes the service labelling the article (and its evidence sentences).",
    ]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines[2:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
