"""The team tracking server: PostgreSQL and mlflow server started by the project's script, and the
whole loop (train, register, promote, serve, score) run against it unchanged, also two at once."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.conftest import train_tiny_into

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "tracking_server.sh"
HAS_POSTGRES = any(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
pytestmark = pytest.mark.skipif(not HAS_POSTGRES, reason="PostgreSQL is not installed (scripts/setup.sh --postgres)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    # PostgreSQL runs as the postgres user when the tests run as root: its folder must be reachable
    folder = Path(tempfile.mkdtemp(prefix="tracking-", dir="/tmp"))
    folder.chmod(0o755)
    env = {**os.environ, "STANCE_TRACKING_DIR": str(folder), "STANCE_PG_PORT": str(free_port()),
           "STANCE_TRACKING_PORT": str(free_port())}
    started = subprocess.run(["bash", str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=300,
                             check=False)
    assert started.returncode == 0, started.stderr + started.stdout
    uri = f"http://127.0.0.1:{env['STANCE_TRACKING_PORT']}"
    assert f"export MLFLOW_TRACKING_URI={uri}" in started.stdout
    yield {"uri": uri, "env": env, "folder": folder}
    subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True, timeout=120, check=False)
    shutil.rmtree(folder, ignore_errors=True)


def test_train_register_promote_serve_and_score_against_the_server(server, tmp_path):
    result = train_tiny_into(server["uri"], "sf-pg")
    client = MlflowClient(server["uri"], server["uri"])
    assert client.get_run(result.run_id).info.status == "FINISHED"
    assert client.get_model_version_by_alias("sf-pg", "champion").version == result.model_version

    from fastapi.testclient import TestClient

    from serving.app import create_app
    from serving.config import Settings

    settings = Settings(model_uri="models:/sf-pg@champion", tracking_uri=server["uri"], cache_dir=tmp_path / "cache")
    with TestClient(create_app(settings)) as http:
        answer = http.post("/v1/classify", json={"texts": ["Kyiv asked for a guarantee before any ceasefire."]})
        assert answer.status_code == 200 and answer.json()["model"]["run_id"] == result.run_id

    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "1", "text": "Kyiv asked for a guarantee before any ceasefire."}) + "\n")
    env = {**os.environ, "MLFLOW_TRACKING_URI": server["uri"], "STANCE_MODEL_URI": "models:/sf-pg@champion",
           "STANCE_CACHE_DIR": str(tmp_path / "cache")}
    scored = subprocess.run([sys.executable, "-m", "scoring", "score", str(src), "--out", str(tmp_path / "out"),
                             "--quiet"], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert scored.returncode == 0, scored.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["scored"] == 1 and summary["model"]["run_id"] == result.run_id


def train_process(uri: str, name: str) -> subprocess.Popen:
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    return subprocess.Popen([sys.executable, "-m", "training", "train", str(ROOT / "experiments/configs/smoke.yaml"),
                             f"--tracking.registered_model={name}", "--tracking.experiment=race"],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_two_runs_at_once_and_a_promotion_racing_a_registration(server):
    uri, name = server["uri"], "sf-race"
    first, second = train_process(uri, name), train_process(uri, name)
    promotions: list[int] = []

    def promote_while_registering() -> None:  # promote whatever is candidate, over and over, while both register
        env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
        while first.poll() is None or second.poll() is None:
            promotions.append(subprocess.run([sys.executable, "-m", "training", "promote", "--name", name], env=env,
                                             cwd=ROOT, capture_output=True, timeout=300, check=False).returncode)

    racer = threading.Thread(target=promote_while_registering)
    racer.start()
    outputs = [p.communicate(timeout=600)[0] for p in (first, second)]
    racer.join(timeout=600)
    assert first.returncode == 0 and second.returncode == 0, outputs
    client = MlflowClient(uri, uri)
    versions = client.search_model_versions(f"name='{name}'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    runs = {v.run_id for v in versions}
    assert len(runs) == 2 and all(client.get_run(r).info.status == "FINISHED" for r in runs)
    assert promotions and all(code in (0, 1, 3) for code in promotions)
    # wherever the race left it, champion names a version that exists and holds a model
    promoted = subprocess.run([sys.executable, "-m", "training", "promote", "--name", name],
                              env={**os.environ, "MLFLOW_TRACKING_URI": uri}, cwd=ROOT, capture_output=True,
                              timeout=300, check=False)
    assert promoted.returncode in (0, 3), promoted.stderr
    champion = client.get_model_version_by_alias(name, "champion")
    assert champion.version in {v.version for v in versions} and champion.status == "READY"
