"""The whole workflow on tiny data, as a user runs it: the retrain script validates the corpus,
trains, registers, promotes and tells a running service to reload; the service then serves it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx

from serving.app import create_app
from serving.config import Settings
from tests.serving.live import serve

ROOT = Path(__file__).parents[1]
TOKEN = "workflow-token-0123456789"


def test_retrain_promotes_and_the_service_reloads(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    settings = Settings(tracking_uri=uri, cache_dir=tmp_path / "cache", admin_token=TOKEN)
    with serve(create_app(settings)) as url:
        assert httpx.get(url + "/readyz").status_code == 503  # nothing registered yet
        env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "STANCE_ADMIN_TOKEN": TOKEN, "STANCE_SERVICE_URL": url}
        proc = subprocess.run(["bash", "scripts/retrain.sh", "experiments/configs/smoke.yaml"], check=False, cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
        assert "corpus OK" in proc.stdout and "promoted" in proc.stdout and '"version":"1"' in proc.stdout
        ready = httpx.get(url + "/readyz")
        assert ready.status_code == 200 and ready.json()["version"] == "1"
        r = httpx.post(url + "/v1/classify", json={"texts": ["Allies pledged long-term guarantees to Kyiv."]})
        assert r.status_code == 200 and r.json()["model"]["version"] == "1"

        # retraining the same config and seed gives the same scores: not worse, so it is promoted and reloaded
        from mlflow import MlflowClient

        proc = subprocess.run(["bash", "scripts/retrain.sh", "experiments/configs/smoke.yaml"], check=False, cwd=ROOT,
                              env={**env, "STANCE_ADMIN_TOKEN": TOKEN}, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        client = MlflowClient(uri, uri)
        assert str(client.get_model_version_by_alias("stance-framing", "candidate").version) == "2"
        champion = str(client.get_model_version_by_alias("stance-framing", "champion").version)
        assert champion == "2"
        assert httpx.get(url + "/readyz").json()["version"] == "2"
