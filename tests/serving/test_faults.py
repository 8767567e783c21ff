"""Hostile input and failing parts, against the real app over a real (tiny) registered model."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from experiments.benchmarks.hostile import run_matrix, slow_loris
from serving.app import create_app
from serving.config import Settings
from tests.conftest import download_version, private_store
from tests.serving.live import free_port, serve

TOKEN = "faults-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _settings(name: str, uri: str, cache: Path, **extra) -> Settings:
    return Settings(model_uri=f"models:/{name}@champion", tracking_uri=uri, cache_dir=cache, admin_token=TOKEN,
                    **extra)


def test_hostile_matrix_gets_clear_4xx_and_never_5xx(registered_store, tmp_path):
    cfg = _settings(registered_store["name"], registered_store["uri"], tmp_path / "cache")
    with serve(create_app(cfg)) as url:
        records = run_matrix(url, max_body_bytes=cfg.max_body_bytes, max_text_chars=cfg.max_text_chars)
        assert httpx.get(url + "/readyz").status_code == 200
    bad = [r for r in records if not r["ok"]]
    assert not bad, bad
    assert all(r["status"] < 500 for r in records)
    assert len(records) >= 30


def test_slow_loris_body_is_cut_off_and_the_service_keeps_serving(registered_store, tmp_path):
    cfg = _settings(registered_store["name"], registered_store["uri"], tmp_path / "cache", body_timeout_s=1.0)
    with serve(create_app(cfg)) as url:
        status, waited = slow_loris(url, stall_s=15)
        assert status == 408
        assert 0.9 <= waited < 5
        assert httpx.post(url + "/v1/classify", json={"texts": ["peace talks resumed"]}).status_code == 200


def _start_mlflow_server(db_uri: str, tmp_path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                             "--backend-store-uri", db_uri, "--default-artifact-root", str(tmp_path / "srv-art"),
                             "--workers", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # its own process group: the server has worker children
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if time.time() > deadline or proc.poll() is not None:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("mlflow server did not start")
        time.sleep(0.5)


@pytest.mark.slow
def test_registry_down_during_reload_keeps_the_old_model(registered_store, tmp_path):
    db_uri, _ = private_store(registered_store, tmp_path)
    server, tracking = _start_mlflow_server(db_uri, tmp_path)
    try:
        app = create_app(_settings(registered_store["name"], tracking, tmp_path / "cache"))
        with serve(app) as url:
            ready = httpx.get(url + "/readyz").json()
            assert ready["source"] == "registry" and ready["version"] == registered_store["version"]
            os.killpg(server.pid, signal.SIGKILL)  # the tracking server and its workers die
            server.wait(timeout=30)
            r = httpx.post(url + "/admin/reload", headers=AUTH, timeout=120)
            assert r.status_code == 502
            assert "registry unavailable" in r.json()["detail"]
            assert r.json()["serving"]["version"] == registered_store["version"]
            assert httpx.get(url + "/readyz").json()["version"] == registered_store["version"]
            assert httpx.post(url + "/v1/classify", json={"texts": ["still serving"]}).status_code == 200
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)


def test_alias_on_a_corrupt_model_version_is_refused(registered_store, tmp_path):
    uri, client = private_store(registered_store, tmp_path)
    name = registered_store["name"]
    good = client.get_model_version_by_alias(name, "champion")
    # a stance-framing model whose weights were damaged in the store: same files, garbage inside
    got = download_version(uri, name, good.version, tmp_path / "corrupt-model")
    weights = sorted(got.rglob("*.safetensors")) + sorted(got.rglob("heads.pt")) + sorted(got.rglob("*.onnx"))
    assert weights, "the tiny model should have weight files"
    for w in weights:
        w.write_bytes(b"\x00not weights\x00" * 8)
    corrupt = client.create_model_version(name, str(got), run_id=good.run_id)
    with serve(create_app(_settings(name, uri, tmp_path / "cache"))) as url:
        client.set_registered_model_alias(name, "champion", corrupt.version)
        r = httpx.post(url + "/admin/reload", headers=AUTH, timeout=60)
        assert r.status_code == 502
        assert f"version {corrupt.version} failed to load" in r.json()["detail"]
        assert httpx.get(url + "/readyz").json()["version"] == str(good.version)
        assert httpx.post(url + "/v1/classify", json={"texts": ["still serving"]}).status_code == 200
    # a fresh start on the broken alias is not ready, and says why
    with serve(create_app(_settings(name, uri, tmp_path / "cache2"))) as url:
        r = httpx.get(url + "/readyz")
        assert r.status_code == 503 and "failed to load" in r.json()["error"]


def test_default_bind_is_loopback():
    from serving.__main__ import build_parser
    from serving.config import Settings

    assert build_parser().parse_args([]).host is None and Settings().host == "127.0.0.1"
    assert build_parser().parse_args(["--host", "0.0.0.0"]).host == "0.0.0.0"  # only when asked
