"""Shared fixtures: the codebook, a tiny corpus, temporary MLflow stores and a tiny registered model."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")

from labels.codebook import Codebook, load_codebook

FIXTURES = Path(__file__).parent / "fixtures"
TINY_CORPUS = FIXTURES / "corpus"
TINY_REALDEV = FIXTURES / "realdev.jsonl"


@pytest.fixture(scope="session")
def codebook() -> Codebook:
    return load_codebook()


@pytest.fixture
def tiny_corpus_dir() -> Path:
    return TINY_CORPUS


@pytest.fixture
def tiny_rows() -> list[dict]:
    return [json.loads(line) for line in (TINY_CORPUS / "tiny.jsonl").read_text().splitlines()]


def write_jsonl(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _reset_mlflow_uris() -> Iterator[None]:
    """``training.tracking.configure`` sets the process-wide tracking and registry URIs, and MLflow's
    ``set_registry_uri`` also exports ``MLFLOW_REGISTRY_URI``: none of it may leak into the next test."""
    saved = os.environ.get("MLFLOW_REGISTRY_URI")
    yield
    import mlflow

    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)
    if saved is None:
        os.environ.pop("MLFLOW_REGISTRY_URI", None)
    else:
        os.environ["MLFLOW_REGISTRY_URI"] = saved


@pytest.fixture
def sqlite_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh embedded MLflow store for one test (MLFLOW_TRACKING_URI points at it)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    import mlflow

    mlflow.set_tracking_uri(uri)
    yield uri
    mlflow.set_tracking_uri(None)


def tiny_overrides(**extra: dict) -> dict:
    """Overrides for a fast fine-tune: a tiny random BERT, 2 steps, the tiny corpus."""
    base = {
        "data": {"data_dir": str(TINY_CORPUS), "realdev": str(TINY_REALDEV)},
        "model": {"family": "finetune", "base_model": "tiny", "max_length": 64},
        "train": {"epochs": 1, "max_steps": 2, "batch_size": 8, "torch_threads": 1},
        "tracking": {"experiment": "tests", "log_figures": False},
    }
    for section, values in extra.items():
        base.setdefault(section, {}).update(values)
    return base


def train_tiny_into(uri: str, name: str, **overrides: dict):
    """Train a tiny model into the store at ``uri``, register it as ``name`` and promote it; the
    process-wide MLflow settings are restored afterwards. Returns the ``TrainResult``."""
    import mlflow

    from training.overrides import build_config
    from training.promote import promote
    from training.trainer import train

    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        result = train(build_config(tiny_overrides(**overrides, tracking={"registered_model": name})))
        promote(name)
    finally:
        if old is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = old
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
        os.environ.pop("MLFLOW_REGISTRY_URI", None)
    return result


def private_store(registered_store: dict, tmp_path: Path):
    """A copy of the session store that a test may change: (tracking URI, client)."""
    import shutil

    from mlflow import MlflowClient

    root = tmp_path / "store"
    shutil.copytree(registered_store["root"], root)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    return uri, MlflowClient(uri, uri)


def download_version(uri: str, name: str, version: str, dest: Path) -> Path:
    """The files of registered version ``name``/``version`` of the store at ``uri``, under ``dest``."""
    import mlflow

    mlflow.set_tracking_uri(uri)
    try:
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(dest)))
    finally:
        mlflow.set_tracking_uri(None)


@pytest.fixture(scope="session")
def registered_store(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A session-wide sqlite store holding a tiny fine-tuned model registered as champion."""
    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    result = train_tiny_into(uri, "sf-test")
    return {"uri": uri, "root": root, "name": "sf-test", "version": result.model_version, "run_id": result.run_id}
