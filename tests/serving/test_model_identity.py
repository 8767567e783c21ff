"""The service loads the model the URI names in the configured registry, undamaged, or says why it cannot.

Every reproduction ends with the right model served or a clear not-ready, never another model.
Real sqlite stores and real (tiny) trained models throughout.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from serving.app import create_app
from serving.config import Settings
from serving.copies import COPY_INFO, CopyDamaged, redact_uri, registry_identity, verify_copy
from serving.model import ModelLoadError, ModelNotFound, ModelStore, RegistryUnavailable
from stance_model.predictor import score_rows
from tests.conftest import download_version, private_store, train_tiny_into
from tests.serving.live import serve

TEXTS = ["NATO leaders promised Kyiv a path to membership.", "Moscow threatened retaliation for the strikes."]


def _train_into(uri: str, family: str, name: str = "sf-test") -> tuple[str, str]:
    """Train a tiny model of ``family`` into the store at ``uri`` and make it champion: (version, run id)."""
    result = train_tiny_into(uri, name, model={"family": family})
    return str(result.model_version), result.run_id


def _unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    def fetch(self):
        raise RegistryUnavailable("connection refused")

    monkeypatch.setattr(ModelStore, "_fetch", fetch)


def _scores(loaded) -> np.ndarray:
    return score_rows(loaded.predictor.scores(TEXTS))


def test_store_reset_never_serves_the_old_weights_under_the_new_run(registered_store, tmp_path):
    uri, _ = private_store(registered_store, tmp_path)
    cache = tmp_path / "cache"
    old = ModelStore("models:/sf-test@champion", uri, cache).load()
    assert old.predictor.meta["family"] == "finetune" and old.run_id == registered_store["run_id"]
    # the store is reset: a new mlflow.db at the same path, whose version 1 is a TF-IDF model (trained
    # elsewhere and moved in: this process's MLflow keeps its connection to the old file's URI)
    db = Path(uri.removeprefix("sqlite:///"))
    db.rename(db.with_name("aside.db"))
    (tmp_path / "new").mkdir()
    version, run_id = _train_into(f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}", "tfidf")
    (tmp_path / "new" / "mlflow.db").rename(db)
    assert version == old.version == "1"
    new = ModelStore("models:/sf-test@champion", uri, cache).load()
    assert new.predictor.meta["family"] == "tfidf" and new.run_id == run_id != old.run_id
    assert new.source == "registry" and new.digest != old.digest
    app = create_app(Settings(model_uri="models:/sf-test@champion", tracking_uri=uri, cache_dir=cache))
    with serve(app) as url:
        info = httpx.get(url + "/v1/model").json()
        assert (info["family"], info["run_id"], info["digest"]) == ("tfidf", run_id, new.digest)


def test_two_stores_sharing_one_copy_folder_each_serve_their_own(registered_store, tmp_path):
    uri_a, _ = private_store(registered_store, tmp_path)
    uri_b = f"sqlite:///{tmp_path / 'other' / 'mlflow.db'}"
    (tmp_path / "other").mkdir()
    _, run_b = _train_into(uri_b, "tfidf")
    cache = tmp_path / "shared-cache"
    a = ModelStore("models:/sf-test@champion", uri_a, cache).load()
    b = ModelStore("models:/sf-test@champion", uri_b, cache).load()
    a2 = ModelStore("models:/sf-test@champion", uri_a, cache).load()
    assert (a.version, b.version) == ("1", "1")
    assert a.predictor.meta["family"] == a2.predictor.meta["family"] == "finetune" and a2.digest == a.digest
    assert b.predictor.meta["family"] == "tfidf" and b.run_id == run_b


@pytest.mark.parametrize("model_uri, message", [
    ("models:/sf-test/7", "not found"),
    ("models:/sf-test@champoin", "alias champoin not found"),
    ("models:/no-such-model@champion", "not found"),
])
def test_a_uri_the_registry_does_not_know_is_not_served_from_any_copy(registered_store, tmp_path, model_uri,
                                                                      message):
    uri, _ = private_store(registered_store, tmp_path)
    cache = tmp_path / "cache"
    ModelStore("models:/sf-test@champion", uri, cache).load()  # a good copy sits in the cache
    with pytest.raises(ModelNotFound, match=message):
        ModelStore(model_uri, uri, cache).load()
    with serve(create_app(Settings(model_uri=model_uri, tracking_uri=uri, cache_dir=cache))) as url:
        r = httpx.get(url + "/readyz")
        assert r.status_code == 503 and message in r.json()["error"] and r.json()["attempts"] >= 1
        assert httpx.post(url + "/v1/classify", json={"texts": TEXTS}).status_code == 503


def test_a_deleted_champion_alias_is_not_ready_then_served_once_set_again(registered_store, tmp_path):
    uri, client = private_store(registered_store, tmp_path)
    cache = tmp_path / "cache"
    ModelStore("models:/sf-test@champion", uri, cache).load()
    client.delete_registered_model_alias("sf-test", "champion")
    with serve(create_app(Settings(model_uri="models:/sf-test@champion", tracking_uri=uri, cache_dir=cache))) as url:
        r = httpx.get(url + "/readyz")
        assert r.status_code == 503 and "alias champion not found" in r.json()["error"]
        assert "next_attempt_in_s" in r.json()
        client.set_registered_model_alias("sf-test", "champion", registered_store["version"])
        deadline = time.time() + 30  # retried with backoff: 1, 2, 4, 8 s
        while httpx.get(url + "/readyz").status_code != 200:
            assert time.time() < deadline, httpx.get(url + "/readyz").json()
            time.sleep(0.3)
        ready = httpx.get(url + "/readyz").json()
        assert ready["source"] == "registry" and ready["run_id"] == registered_store["run_id"]


def test_a_version_whose_artifacts_were_deleted_is_refused_not_replaced(registered_store, tmp_path):
    uri, client = private_store(registered_store, tmp_path)
    cache = tmp_path / "cache"
    good = ModelStore("models:/sf-test@champion", uri, cache).load()
    files = tmp_path / "v-files"
    got = download_version(uri, "sf-test", good.version, files)
    gone = client.create_model_version("sf-test", str(got), run_id=good.run_id)
    shutil.rmtree(files)
    client.set_registered_model_alias("sf-test", "champion", gone.version)
    with pytest.raises(ModelLoadError, match="artifacts could not be downloaded") as err:
        ModelStore("models:/sf-test@champion", uri, cache).load()
    assert not isinstance(err.value, ModelNotFound)


def test_registry_down_falls_back_only_to_the_copy_made_for_the_same_uri(registered_store, tmp_path, monkeypatch):
    uri, _ = private_store(registered_store, tmp_path)
    cache = tmp_path / "cache"
    served = ModelStore("models:/sf-test@champion", uri, cache).load()
    _unreachable(monkeypatch)
    back = ModelStore("models:/sf-test@champion", uri, cache).load()
    assert back.source == "cache" and back.digest == served.digest and back.run_id == served.run_id
    with pytest.raises(ModelLoadError, match="no local copy made for this URI"):
        ModelStore("models:/sf-test@candidate", uri, cache).load()
    with pytest.raises(ModelLoadError, match="no local copy made for this URI"):  # another registry
        ModelStore("models:/sf-test@champion", "http://127.0.0.1:9", cache).load()
    with pytest.raises(ModelLoadError, match="registry unavailable"):
        ModelStore("models:/sf-test@champion", uri, cache).load(allow_cache=False)


def _copy_of(loaded, cache: Path) -> Path:
    (path,) = [p.parent for p in cache.rglob(COPY_INFO) if json.loads(p.read_text())["digest"] == loaded.digest]
    return path


def _flip_bytes(path: Path, offset: int = 4096) -> None:
    data = bytearray(path.read_bytes())
    for i in range(offset, min(offset + 512, len(data))):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_damaged_copy_is_downloaded_again_or_never_served(registered_store, tmp_path, monkeypatch):
    uri, _ = private_store(registered_store, tmp_path)
    cache = tmp_path / "cache"
    first = ModelStore("models:/sf-test@champion", uri, cache).load()
    expected = _scores(first)
    copy = _copy_of(first, cache)
    (weights,) = copy.rglob("model.safetensors")
    _flip_bytes(weights)
    with pytest.raises(CopyDamaged, match="does not match its digest"):
        verify_copy(copy)
    # registry up: the damaged copy is replaced by a fresh download and the right scores come back
    again = ModelStore("models:/sf-test@champion", uri, cache).load()
    assert again.source == "registry" and again.digest == first.digest
    np.testing.assert_allclose(_scores(again), expected, atol=1e-5)
    # a corrupt header, registry down: not served, and the reason says so
    weights.write_bytes(b"\xff" * 16 + weights.read_bytes()[16:])
    _unreachable(monkeypatch)
    with pytest.raises(ModelLoadError, match="does not match its digest"):
        ModelStore("models:/sf-test@champion", uri, cache).load()


def test_a_running_model_does_not_read_its_files_again(registered_store, tmp_path):
    uri, _ = private_store(registered_store, tmp_path)
    cache = tmp_path / "cache"
    loaded = ModelStore("models:/sf-test@champion", uri, cache).load()
    before = _scores(loaded)
    (weights,) = _copy_of(loaded, cache).rglob("model.safetensors")
    _flip_bytes(weights, offset=0)
    np.testing.assert_array_equal(_scores(loaded), before)  # not memory-mapped: flipped bytes change nothing
    with weights.open("r+b") as fh:
        fh.truncate(64)  # a mapped file truncated under the process would end it with SIGBUS
    np.testing.assert_array_equal(_scores(loaded), before)


def test_weights_that_give_nan_fail_the_self_check_and_are_not_served(registered_store, tmp_path):
    from safetensors.torch import load_file, save_file

    uri, client = private_store(registered_store, tmp_path)
    good = client.get_model_version_by_alias("sf-test", "champion")
    got = download_version(uri, "sf-test", good.version, tmp_path / "nan-model")
    (weights,) = got.rglob("model.safetensors")
    tensors = load_file(weights)
    key = next(k for k in tensors if k.endswith("attention.output.dense.weight"))
    tensors[key][0, 0] = float("nan")
    save_file(tensors, weights, metadata={"format": "pt"})
    bad = client.create_model_version("sf-test", str(got), run_id=good.run_id)
    client.set_registered_model_alias("sf-test", "champion", bad.version)
    with pytest.raises(ModelLoadError, match="self-check: .*non-finite"):
        ModelStore("models:/sf-test@champion", uri, tmp_path / "cache").load()


def test_non_finite_scores_are_a_500_with_a_request_id_never_a_result(registered_store, tmp_path, caplog):
    uri, _ = private_store(registered_store, tmp_path)
    loaded = ModelStore("models:/sf-test@champion", uri, tmp_path / "cache").load()
    real = loaded.predictor.scores

    def broken(texts, targets=None):
        s = real(texts, targets)
        s.frames[:] = np.nan
        return s

    loaded.predictor.scores = broken
    app = create_app(Settings(model_uri="models:/sf-test@champion", tracking_uri=uri, cache_dir=tmp_path / "c2"),
                     loader=lambda allow_cache: loaded)
    with serve(app) as url:
        r = httpx.post(url + "/v1/classify", json={"texts": TEXTS}, headers={"x-request-id": "nan-probe-1"})
        assert r.status_code == 500 and r.json()["request_id"] == "nan-probe-1"
        assert "non-finite" in r.json()["detail"] and "null" not in r.text
        r = httpx.post(url + "/v1/articles", json={"text": "First paragraph.\nSecond paragraph."})
        assert r.status_code == 500
    assert any("non_finite_scores" in rec.getMessage() and "nan-probe-1" in rec.getMessage() for rec in caplog.records)


def test_v1_model_reports_what_was_loaded(registered_store, tmp_path):
    uri, _ = private_store(registered_store, tmp_path)
    app = create_app(Settings(model_uri="models:/sf-test@champion", tracking_uri=uri, cache_dir=tmp_path / "cache"))
    with serve(app) as url:
        info = httpx.get(url + "/v1/model").json()
    copies = list((tmp_path / "cache").rglob(COPY_INFO))
    assert len(copies) == 1
    recorded = json.loads(copies[0].read_text())
    assert info["digest"] == recorded["digest"] and info["run_id"] == registered_store["run_id"]
    assert info["model_id"] and info["model_id"].startswith("m-")
    quantised = any("int8" in o and "not applied" not in o for o in info["optimizations"])
    assert info["self_check"]["reference"] == ("int8" if quantised else "fp32")
    assert info["self_check"]["max_abs_diff"] <= 1e-3


def test_a_mistyped_sqlite_uri_does_not_create_an_empty_store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlfow.db'}"
    with pytest.raises(ModelNotFound, match="no MLflow store at"):
        ModelStore("models:/sf-test@champion", uri, tmp_path / "cache").load()
    assert not (tmp_path / "mlfow.db").exists()


def test_registry_identity_and_redaction():
    assert registry_identity("sqlite:///a/../b/mlflow.db") == registry_identity("sqlite:///b/mlflow.db")
    assert registry_identity("http://user:pw@host:5000/") == "http://host:5000"
    assert redact_uri("https://user:s3cret@host/x?token=abc&run=1") == "https://***@host/x?token=***&run=1"


def test_credentials_in_the_tracking_uri_never_reach_a_response_or_a_log(tmp_path, caplog):
    import logging

    secret = "TopSecret123"
    settings = Settings(model_uri="models:/sf-test@champion", cache_dir=tmp_path / "cache",
                        tracking_uri=f"http://alice:{secret}@127.0.0.1:9/mlflow?token=tok{secret}",
                        admin_token="identity-token-0123456789")
    caplog.set_level(logging.DEBUG)
    with serve(create_app(settings)) as url:
        seen = [httpx.get(url + "/readyz"), httpx.get(url + "/v1/model"), httpx.get(url + "/metrics"),
                httpx.post(url + "/v1/classify", json={"texts": TEXTS}),
                httpx.post(url + "/admin/reload", headers={"Authorization": "Bearer identity-token-0123456789"},
                           timeout=60)]
    assert seen[0].status_code == 503 and "***@127.0.0.1:9" in seen[0].json()["error"]
    for r in seen:
        assert secret not in r.text and secret not in str(r.headers), r.text
    assert not [rec.getMessage() for rec in caplog.records if secret in rec.getMessage()]
