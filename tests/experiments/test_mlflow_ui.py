"""The MLflow UI in a real browser: open the experiment, select runs, compare, see the metric."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.request

import pytest
from mlflow import MlflowClient

from tests.browser import CHROMIUM, FLAGS, SCREENSHOTS, need_browser
from tests.conftest import tiny_overrides
from tests.serving.live import free_port
from training.overrides import build_config

SCREENSHOT = SCREENSHOTS / "mlflow_compare.png"

pytestmark = pytest.mark.slow


def test_compare_runs_in_the_mlflow_ui(tmp_path, monkeypatch):
    need_browser()
    from playwright.sync_api import sync_playwright

    from training.trainer import train

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    names = [f"ui-run-{i}" for i in (1, 2, 3)]
    for i, name in enumerate(names, start=1):
        train(build_config(tiny_overrides(model={"family": "tfidf"}, train={"seed": i},
                                          tracking={"run_name": name, "register": False})))
    exp_id = MlflowClient(uri).get_experiment_by_name("tests").experiment_id

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
                               "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(base + "/health", timeout=2)
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    pytest.fail("mlflow ui did not start")
                time.sleep(1)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            try:
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                page.goto(f"{base}/#/experiments/{exp_id}/runs")
                page.get_by_role("link", name=names[0], exact=True).first.wait_for(timeout=90_000)
                for name in names:
                    row = page.locator('div[role="row"]', has=page.get_by_role("link", name=name, exact=True))
                    row.locator(".ag-checkbox-input").first.click()
                page.get_by_role("button", name="Compare").click()
                page.get_by_text("Comparing 3 Runs").wait_for(timeout=60_000)
                # the metrics table lists keys alphabetically and renders its first rows only: after fit_seconds
                # and offtopic_*, the first realdev_* keys (confidence, then per-frame figures)
                page.get_by_text("realdev_frame_escalation_risk_f1", exact=True).first.wait_for(timeout=60_000)
                body = page.inner_text("body")
                for name in names:
                    assert name in body
                assert "realdev_frame_escalation_risk_f1" in body and "realdev_confident_sides_precision" in body
                assert "compare-runs" in page.url
                SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOT), full_page=True)
            finally:
                browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert SCREENSHOT.stat().st_size > 10_000


def test_chromium_is_debians():
    need_browser()
    assert shutil.which("chromium") == CHROMIUM
