"""Every MLflow call of the training package lives here: store, runs, datasets, models, registry."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
CANDIDATE, CHAMPION = "candidate", "champion"


def default_tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` if set, else the embedded sqlite store at the repository root."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{REPO_ROOT / 'mlflow.db'}"


def configure(uri: str | None = None) -> str:
    """Point MLflow at ``uri`` (default: ``default_tracking_uri()``) and return it."""
    uri = uri or default_tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def _local_artifact_root(uri: str) -> str | None:
    """For a sqlite store, keep artifacts in ``mlruns/`` beside the database file."""
    parsed = urlparse(uri)
    if parsed.scheme == "sqlite":
        db = Path(uri[len("sqlite:///"):])
        return (db.resolve().parent / "mlruns").as_uri()
    return None


def ensure_experiment(name: str) -> str:
    """The id of experiment ``name``, created if needed (artifacts beside a sqlite store)."""
    client = MlflowClient()
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            client.restore_experiment(exp.experiment_id)
        return exp.experiment_id
    return client.create_experiment(name, artifact_location=_local_artifact_root(mlflow.get_tracking_uri()))


def git_info() -> dict[str, str]:
    """The commit the code ran from and whether the working tree had uncommitted changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    try:
        return {"git_commit": git("rev-parse", "HEAD"), "git_dirty": str(bool(git("status", "--porcelain")))}
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": "unknown", "git_dirty": "unknown"}


def log_params(flat: Mapping[str, Any]) -> None:
    mlflow.log_params({k: ("" if v is None else str(v))[:6000] for k, v in flat.items()})


def log_dataset(frame: pd.DataFrame, digest: str, source: str, context: str) -> None:
    """Log a corpus split as an MLflow dataset input; its digest derives from the corpus digest."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the source resolves to the same class twice; harmless
        # one dataset per split: MLflow keys datasets by (name, digest)
        split_digest = hashlib.sha256(f"{digest}:{context}".encode()).hexdigest()[:36]
        ds = mlflow.data.from_pandas(frame, source=source, name=f"stance-framing-corpus/{context}",
                                     digest=split_digest)
    mlflow.log_input(ds, context=context)


def log_predictor(predictor_dir: Path, example: pd.DataFrame, output: pd.DataFrame,
                  requirements: list[str]) -> str:
    """Log the saved predictor as one pyfunc model; return its model URI."""
    from training.pyfunc import StanceFramingModel

    signature = infer_signature(example, output, params={"targets": ""})
    logging.getLogger("mlflow.pyfunc").setLevel(logging.ERROR)  # the CloudPickle notice on every run
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=StanceFramingModel(),
        artifacts={"predictor": str(predictor_dir)},
        signature=signature,
        input_example=example,
        pip_requirements=requirements,
    )
    return info.model_uri


def register(model_uri: str, name: str, tags: Mapping[str, str], description: str) -> str:
    """Register ``model_uri`` as a new version of ``name`` with the ``candidate`` alias; return the version.

    If anything fails after the version exists, the version is deleted again, so a failed run
    never leaves a half-registered model behind.
    """
    client = MlflowClient()
    mv = mlflow.register_model(model_uri, name)
    try:
        for k, v in tags.items():
            client.set_model_version_tag(name, mv.version, k, str(v))
        client.update_model_version(name, mv.version, description=description)
        client.set_registered_model_alias(name, CANDIDATE, mv.version)
    except BaseException:
        client.delete_model_version(name, mv.version)
        raise
    return str(mv.version)


def version_by_alias(name: str, alias: str):
    """The model version holding ``alias``, or ``None``."""
    try:
        return MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def run_metrics(run_id: str) -> dict[str, float]:
    return dict(MlflowClient().get_run(run_id).data.metrics)


def run_params(run_id: str) -> dict[str, str]:
    return dict(MlflowClient().get_run(run_id).data.params)


def set_alias(name: str, alias: str, version: str) -> None:
    MlflowClient().set_registered_model_alias(name, alias, version)


def tag_version(name: str, version: str, tags: Mapping[str, Any], description: str | None = None) -> None:
    client = MlflowClient()
    for k, v in tags.items():
        client.set_model_version_tag(name, version, k, str(v))
    if description is not None:
        client.update_model_version(name, version, description=description)


def download_predictor(model_uri: str, dest: Path) -> Path:
    """Download a registered pyfunc model and return the folder of its saved predictor."""
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(dest)))
    found = sorted(local.rglob("meta.json"))
    if not found:
        raise ValueError(f"{model_uri} holds no stance-framing predictor")
    return found[0].parent
