"""The service over a real (tiny) registered model in a real MLflow store."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import mlflow
import pytest
from mlflow import MlflowClient

from serving.app import create_app
from serving.config import Settings
from serving.model import ModelLoadError, ModelStore, RegistryUnavailable
from tests.serving.live import serve

TOKEN = "integration-token-0123456789"


def settings_for(store: dict, cache: Path, **extra) -> Settings:
    return Settings(model_uri=f"models:/{store['name']}@champion", tracking_uri=store["uri"], cache_dir=cache,
                    admin_token=TOKEN, **extra)


def test_classify_with_the_registered_champion(registered_store, tmp_path):
    app = create_app(settings_for(registered_store, tmp_path / "cache"))
    with serve(app) as url:
        ready = httpx.get(url + "/readyz").json()
        assert ready["version"] == registered_store["version"] and ready["source"] == "registry"
        r = httpx.post(url + "/v1/classify", json={"texts": ["NATO leaders promised Kyiv a path to membership.",
                                                             "Moscow threatened retaliation for the strikes."]})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["model"]["run_id"] == registered_store["run_id"]
        assert len(body["results"]) == 2
        info = httpx.get(url + "/v1/model").json()
        assert info["family"] == "finetune" and "test_frames_macro_f1" in info["metrics"]
        assert "realdev_stance_favg" in info["metrics"] and "scope_offtopic_out_of_scope_rate" in info["metrics"]
        # every decision carries its confidence flag and every passage its in_scope score, from what
        # this model was trained with (thresholds chosen on validation, a detector on its passage features)
        assert info["confidence"]["precision"] == 0.9
        for result in body["results"]:
            assert 0.0 <= result["in_scope"] <= 1.0
            assert all(isinstance(f["confident"], bool) for f in result["frames"].values())
            assert all(isinstance(t["confident"], bool) for t in result["stance"].values())
        # the MLflow scoring protocol gives the same numbers as /v1/classify (same passages in the
        # same batch: int8 serving quantises activations per batch)
        inv = httpx.post(url + "/invocations", json={"dataframe_split": {"columns": ["text"], "data": [
            ["NATO leaders promised Kyiv a path to membership."],
            ["Moscow threatened retaliation for the strikes."]]}}).json()["predictions"][0]
        assert inv["frame.security_guarantee.score"] == pytest.approx(
            body["results"][0]["frames"]["security_guarantee"]["score"], abs=1e-5)
        art = httpx.post(url + "/v1/articles", json={"title": "Talks", "text": (
            "The first paragraph reports that the envoys met again on Monday.\n"
            "The second paragraph says the talks will resume next week in Geneva.")})
        assert art.status_code == 200 and len(art.json()["passages"]) == 3


def test_serves_the_local_copy_when_the_registry_is_down(registered_store, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    ModelStore(f"models:/{registered_store['name']}@champion", registered_store["uri"], cache).load()

    def unreachable(self):
        raise RegistryUnavailable("connection refused")

    # the same registry, now unreachable (a real tracking server going down: tests/serving/test_faults.py)
    monkeypatch.setattr(ModelStore, "_fetch", unreachable)
    app = create_app(settings_for(registered_store, cache))
    with serve(app) as url:
        ready = httpx.get(url + "/readyz").json()
        assert ready["source"] == "cache" and ready["version"] == registered_store["version"]
        assert httpx.get(url + "/v1/model").json()["source"] == "cache"
        assert httpx.post(url + "/v1/classify", json={"texts": ["still serving"]}).status_code == 200
        # reload while the registry is down keeps the old model
        r = httpx.post(url + "/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
        assert r.status_code == 502 and r.json()["serving"]["version"] == registered_store["version"]
        assert httpx.post(url + "/v1/classify", json={"texts": ["still serving"]}).status_code == 200


def test_no_registry_and_no_copy_is_a_clear_error(tmp_path):
    store = ModelStore("models:/sf-test@champion", "http://127.0.0.1:9", tmp_path / "empty")
    with pytest.raises(ModelLoadError, match="no local copy"):
        store.load()


def test_reload_to_a_broken_version_keeps_the_old_model(registered_store, tmp_path):
    # a private copy of the store, so the session fixture stays intact
    root = tmp_path / "store"
    shutil.copytree(registered_store["root"], root)
    db = root / "mlflow.db"
    uri = f"sqlite:///{db}"
    store = {**registered_store, "uri": uri}
    client = MlflowClient(uri, uri)
    good = client.get_model_version_by_alias(store["name"], "champion")
    # the copied store still points at the original artifact folder; register a broken model instead
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    with mlflow.start_run():
        class Broken(mlflow.pyfunc.PythonModel):
            def predict(self, context, model_input, params=None):
                return model_input

        info = mlflow.pyfunc.log_model(name="model", python_model=Broken())
    broken = mlflow.register_model(info.model_uri, store["name"])
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)
    app = create_app(settings_for(store, tmp_path / "cache"))
    with serve(app) as url:
        assert httpx.get(url + "/readyz").json()["version"] == str(good.version)
        client.set_registered_model_alias(store["name"], "champion", broken.version)
        r = httpx.post(url + "/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
        assert r.status_code == 502 and "not a stance-framing model" in r.json()["detail"]
        assert httpx.get(url + "/readyz").json()["version"] == str(good.version)
        assert httpx.post(url + "/v1/classify", json={"texts": ["ok"]}).status_code == 200
        # pointing the alias back and reloading succeeds
        client.set_registered_model_alias(store["name"], "champion", good.version)
        r = httpx.post(url + "/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
        assert r.status_code == 200 and r.json()["model"]["version"] == str(good.version)
