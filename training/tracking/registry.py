"""Models in the MLflow store: logging the saved predictor, registering it, aliases, and reading
runs and versions back."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from training.modelcard import CONFIG_HEADING
from training.tracking.runs import CANDIDATE, retry_on_conflict, store_uri


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


DESCRIPTION_LIMIT = 5000
"""Characters a model version's description may hold: the SQL stores declare the column
``varchar(5000)``, and PostgreSQL refuses a longer one (SQLite does not check)."""
_CONFIG = f"\n{CONFIG_HEADING}\n"
_CONFIG_SHORT = (f"{_CONFIG}In the run of this version: its params, and `config/resolved_config.yaml` among its "
                 "artifacts (left out here: the registry keeps 5,000 characters).\n")


def fit_description(text: str) -> str:
    """``text`` within ``DESCRIPTION_LIMIT``: a model card's config list is replaced by a pointer to
    the run first (its figures and any promotion check stay), and only if that is not enough is the
    end cut, with a note saying so."""
    if len(text) <= DESCRIPTION_LIMIT:
        return text
    if _CONFIG in text:
        head, rest = text.split(_CONFIG, 1)
        tail = rest[rest.index("\n## "):] if "\n## " in rest else ""
        text = head + _CONFIG_SHORT + tail
    if len(text) > DESCRIPTION_LIMIT:
        note = "\n\n(cut at the registry's 5,000 characters; the whole card is the run's description)"
        text = text[:DESCRIPTION_LIMIT - len(note)] + note
    return text


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
        client.update_model_version(name, mv.version, description=fit_description(description))
        retry_on_conflict(lambda: client.set_registered_model_alias(name, CANDIDATE, mv.version),
                          f"setting {name}@{CANDIDATE}")
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


def run_ui_url(run_id: str, ui: str = "http://127.0.0.1:5000") -> str:
    """Where the run is in the MLflow UI: the tracking server's own address when the store is a
    server, else ``ui`` (what ``make ui`` serves for the embedded store)."""
    uri = mlflow.get_tracking_uri()
    base = ui
    if uri.startswith(("http://", "https://")):
        parts = urlsplit(uri)  # printed: never with the credentials or query of the tracking URI
        base = urlunsplit((parts.scheme, f"{parts.hostname}{f':{parts.port}' if parts.port else ''}",
                           parts.path.rstrip("/"), "", ""))
    experiment = MlflowClient().get_run(run_id).info.experiment_id
    return f"{base}/#/experiments/{experiment}/runs/{run_id}"


def run_params(run_id: str) -> dict[str, str]:
    return dict(MlflowClient().get_run(run_id).data.params)


def set_alias(name: str, alias: str, version: str) -> None:
    retry_on_conflict(lambda: MlflowClient().set_registered_model_alias(name, alias, version),
                      f"setting {name}@{alias}")


def tag_version(name: str, version: str, tags: Mapping[str, Any], description: str | None = None) -> None:
    client = MlflowClient()
    for k, v in tags.items():
        client.set_model_version_tag(name, version, k, str(v))
    if description is not None:
        client.update_model_version(name, version, description=fit_description(description))


def download_predictor(model_uri: str, dest: Path) -> Path:
    """Download a registered pyfunc model and return the folder of its saved predictor."""
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(dest)))
    found = sorted(local.rglob("meta.json"))
    if not found:
        raise ValueError(f"{model_uri} holds no stance-framing predictor")
    return found[0].parent


def finished_runs(experiment: str) -> list[Any]:
    """Every finished run of ``experiment``, oldest first; ``ValueError`` if there is no such experiment."""
    client = MlflowClient()
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise ValueError(f"no MLflow experiment named {experiment!r} at {store_uri()}")
    return client.search_runs([exp.experiment_id], "attributes.status = 'FINISHED'", max_results=5000,
                              order_by=["attributes.start_time ASC"])
