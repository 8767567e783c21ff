"""The MLflow store and its runs: where the store is, experiments, one training run, what a run logs."""

from __future__ import annotations

import hashlib
import logging
import os
import random
import re
import socket
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import mlflow
import pandas as pd
from mlflow import ActiveRun, MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, RESOURCE_ALREADY_EXISTS, ErrorCode

from stance_model.project import REPO_ROOT, default_tracking_uri
from training.store import artifact_dir, relocate_store, sqlite_db

log = logging.getLogger(__name__)
T = TypeVar("T")

CANDIDATE, CHAMPION = "candidate", "champion"
HOST_TAG, PID_TAG, FAILURE_TAG = "host", "pid", "failure_reason"
# safetensors (the transformer weights) reports I/O failures as SafetensorError, errno only in the text
_OS_ERROR_TEXT = re.compile(r"\(os error (\d+)\)")


class ArtifactStoreError(RuntimeError):
    """Writing a run's artifacts failed with an OS error (disk full, read-only, not a directory)."""

    def __init__(self, location: str, error: OSError) -> None:
        self.location, self.error = location, error
        super().__init__(f"could not write artifacts to {location}: {error}")


def configure(uri: str | None = None) -> str:
    """Point MLflow at ``uri`` (default: ``default_tracking_uri()``) and return it."""
    uri = uri or default_tracking_uri()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # plain output, no progress bars
    db = sqlite_db(uri)
    if db is not None:
        moved = relocate_store(db)
        if moved:
            log.info("the MLflow store %s was copied from %s: its artifact locations now point at %s (%d rows)",
                     uri, moved[0], moved[1], moved[2])
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def _local_artifact_root(uri: str) -> str | None:
    """For a sqlite store, keep artifacts in ``mlruns/`` beside the database file."""
    db = sqlite_db(uri)
    return artifact_dir(db).as_uri() if db is not None else None


def ensure_experiment(name: str) -> str:
    """The id of experiment ``name``, created if needed (artifacts beside a sqlite store).

    Two runs starting at once against one server may both find no experiment and both create it;
    the one that loses gets RESOURCE_ALREADY_EXISTS and uses the experiment the other made."""
    client = MlflowClient()
    exp = client.get_experiment_by_name(name)
    if exp is None:
        try:
            return client.create_experiment(name, artifact_location=_local_artifact_root(mlflow.get_tracking_uri()))
        except MlflowException as exc:
            if exc.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
                raise
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise
    if exp.lifecycle_stage == "deleted":
        client.restore_experiment(exp.experiment_id)
    return exp.experiment_id


def git_info() -> dict[str, str]:
    """The commit the code ran from and whether the working tree had uncommitted changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    try:
        return {"git_commit": git("rev-parse", "HEAD"), "git_dirty": str(bool(git("status", "--porcelain")))}
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": "unknown", "git_dirty": "unknown"}


@contextmanager
def training_run(experiment_id: str, run_name: str, tags: Mapping[str, str], nested: bool) -> Iterator[ActiveRun]:
    """Start a run tagged with this process's ``host`` and ``pid`` and yield it.

    On any exception (including ``SystemExit`` from SIGTERM) the run gets a ``failure_reason``
    tag and ends as FAILED. A SIGKILL cannot be caught: ``fail_dead_runs`` cleans up after it.
    """
    tags = {**tags, HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags, nested=nested) as run:
        try:
            yield run
        except BaseException as exc:
            try:
                mlflow.set_tag(FAILURE_TAG, f"{type(exc).__name__}: {exc}"[:1000])
            except Exception:  # the original error matters more than the tag
                log.warning("could not tag run %s with its failure", run.info.run_id, exc_info=True)
            raise


def _process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process on this host (a zombie, killed but not reaped, is dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    try:
        # /proc/<pid>/stat is "pid (comm) state ..."; comm may hold spaces, so split after ")"
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def fail_dead_runs(experiment_id: str) -> list[str]:
    """End as FAILED the RUNNING runs of this host whose training process is gone; return their ids.

    A process killed with SIGKILL (or by the OOM killer, or a power cut) cannot end its run, which
    then stays RUNNING forever. Only runs tagged with this host and a PID that no longer runs are
    touched: runs of other hosts, and of live processes, are left alone. Model versions such a run
    created without finishing registration (no alias yet) are deleted.
    """
    client = MlflowClient()
    host = socket.gethostname()
    ended: list[str] = []
    runs = client.search_runs([experiment_id], f"attributes.status = 'RUNNING' and tags.{HOST_TAG} = '{host}'",
                              max_results=1000)
    for run in runs:
        pid = run.data.tags.get(PID_TAG, "")
        if not pid.isdigit() or _process_alive(int(pid)):
            continue
        run_id = run.info.run_id
        reason = (f"process {pid} on {host} died without ending the run (killed?); "
                  "marked FAILED by the next training run")
        client.set_tag(run_id, FAILURE_TAG, reason)
        client.set_terminated(run_id, status="FAILED")
        log.warning("run %s: %s", run_id, reason)
        for mv in client.search_model_versions(f"run_id = '{run_id}'"):
            if client.get_model_version(mv.name, mv.version).aliases:
                continue  # registration had finished; a person decides about an aliased version
            client.delete_model_version(mv.name, mv.version)
            log.warning("deleted %s version %s, registered by dead run %s", mv.name, mv.version, run_id)
        ended.append(run_id)
    return ended


@contextmanager
def writing_artifacts() -> Iterator[None]:
    """Turn an OS error while writing the active run's artifacts into ``ArtifactStoreError``.

    The error names the experiment's artifact location and the OS error (e.g. ``[Errno 28] No
    space left on device``), so a full disk or a read-only store reads as one line, not a traceback.
    """
    try:
        yield
    except OSError as exc:
        raise ArtifactStoreError(_artifact_location(), exc) from exc
    except Exception as exc:
        found = _OS_ERROR_TEXT.search(str(exc))
        if found is None:
            raise
        errno = int(found[1])
        raise ArtifactStoreError(_artifact_location(), OSError(errno, os.strerror(errno))) from exc


def _artifact_location() -> str:
    run = mlflow.active_run()
    if run is None:
        return "the artifact store"
    return MlflowClient().get_experiment(run.info.experiment_id).artifact_location


def log_params(flat: Mapping[str, Any]) -> None:
    mlflow.log_params({k: ("" if v is None else str(v))[:6000] for k, v in flat.items()})


CONFLICT_TRIES = 5
_CONFLICT_SIGNS = ("IntegrityError", "duplicate key", "UNIQUE constraint")


def retry_on_conflict(call: Callable[[], T], what: str) -> T:
    """``call()``, again after a short random pause when the store refused it for a row another client
    wrote at the same moment (a unique-key conflict, reported as INTERNAL_ERROR): runs started
    together against one server insert the same dataset or alias rows. Other errors, and the
    last conflict, are raised."""
    for attempt in range(1, CONFLICT_TRIES + 1):
        try:
            return call()
        except MlflowException as exc:
            conflict = exc.error_code == ErrorCode.Name(INTERNAL_ERROR) and any(
                sign in str(exc) for sign in _CONFLICT_SIGNS)
            if not conflict or attempt == CONFLICT_TRIES:
                raise
            log.warning("%s met a concurrent write (attempt %d of %d); trying again", what, attempt, CONFLICT_TRIES)
            time.sleep(random.uniform(0.1, 0.5) * attempt)
    raise AssertionError("unreachable")


def log_dataset(frame: pd.DataFrame, digest: str, source: str, context: str) -> None:
    """Log a corpus split as an MLflow dataset input; its digest derives from the corpus digest."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the source resolves to the same class twice; harmless
        # one dataset per split: MLflow keys datasets by (name, digest)
        split_digest = hashlib.sha256(f"{digest}:{context}".encode()).hexdigest()[:36]
        ds = mlflow.data.from_pandas(frame, source=source, name=f"stance-framing-corpus/{context}",
                                     digest=split_digest)
    retry_on_conflict(lambda: mlflow.log_input(ds, context=context), f"logging the {context} dataset")


def describe_run(text: str) -> None:
    """Set the active run's description (the note the MLflow UI shows on the run's page)."""
    mlflow.set_tag("mlflow.note.content", text)


def in_run() -> bool:
    """Whether a run is active (a training run inside a sweep's parent run is nested)."""
    return mlflow.active_run() is not None


@contextmanager
def plain_run(experiment_id: str, run_name: str, tags: Mapping[str, str]) -> Iterator[str]:
    """A run that is not a training run (a sweep's parent, a report); yields its id."""
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=dict(tags)) as run:
        yield run.info.run_id


def log_benchmark(name: str, run_prefix: str, params: Mapping[str, Any], metrics: Mapping[str, float],
                  report: Path) -> str:
    """One run of a benchmark in experiment ``benchmarks``, tagged with the benchmark and the commit:
    its params, figures and report; returns the run id."""
    tags = {"benchmark": name, **git_info()}
    with plain_run(ensure_experiment("benchmarks"), f"{run_prefix}-{time.strftime('%Y%m%d-%H%M%S')}", tags) as run_id:
        log_params(params)
        log_metrics(metrics)
        log_artifact(report)
    return run_id


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log metrics to the active run; a no-op outside a run (a model fitted without tracking)."""
    if in_run():
        mlflow.log_metrics(dict(metrics), step=step)


def set_tags(tags: Mapping[str, Any]) -> None:
    mlflow.set_tags({k: str(v) for k, v in tags.items()})


def log_figure(fig: Any, path: str) -> None:
    mlflow.log_figure(fig, path)


def log_text(text: str, path: str) -> None:
    mlflow.log_text(text, path)


def log_dict(obj: Mapping[str, Any], path: str) -> None:
    mlflow.log_dict(dict(obj), path)


def log_artifact(local: Path, folder: str | None = None) -> None:
    mlflow.log_artifact(str(local), folder)


def log_files_to_run(run_id: str, paths: list[Path], folder: str) -> None:
    """Attach files to an existing run (not the active one), under ``folder``."""
    client = mlflow.MlflowClient()
    client.get_run(run_id)  # an unknown id fails here, naming it, before anything is written
    for path in paths:
        client.log_artifact(run_id, str(path), folder)


def store_uri() -> str:
    """The tracking URI in use, without its query (where credentials could be)."""
    return mlflow.get_tracking_uri().split("?")[0]
