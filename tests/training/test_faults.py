"""Training under faults: a killed process, a full or unwritable artifact store, bad input files.

Each ends with the run FAILED (or no run at all) and nothing registered, and the next run works.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
import yaml
from mlflow import MlflowClient

from tests.conftest import TINY_CORPUS, tiny_overrides
from training import tracking
from training.__main__ import main as training_main
from training.overrides import build_config
from training.pretrained import build_tiny_model
from training.trainer import train

ROOT = Path(__file__).parents[2]
CODEBOOK = ROOT / "labels" / "codebook.yaml"
CORPUS_FILE = TINY_CORPUS / "tiny.jsonl"


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny encoder folder built once: runs load it instead of writing their own weights."""
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny-base") / "model"))


@pytest.fixture(scope="module")
def empty_store_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty MLflow sqlite database: creating one takes seconds, copying it does not."""
    db = tmp_path_factory.mktemp("store") / "mlflow.db"
    MlflowClient(f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_store_db: Path) -> Iterator[str]:
    """A fresh sqlite store for one test, set as tracking and registry URI (and in MLFLOW_TRACKING_URI)."""
    shutil.copy(empty_store_db, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    tracking.configure(uri)
    yield uri
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


def write_config(path: Path, **sections: dict) -> Path:
    path.write_text(yaml.safe_dump(tiny_overrides(**sections)), encoding="utf-8")
    return path


def all_runs(client: MlflowClient) -> list:
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiments) if experiments else []


def training_process(args: list[str], uri: str, log: Path, fsize_limit: int | None = None) -> subprocess.Popen:
    """``python -m training ARGS`` against store ``uri``, optionally with files capped at ``fsize_limit`` bytes."""
    command = [sys.executable, "-m", "training", *args]
    if fsize_limit is not None:
        # writing past RLIMIT_FSIZE fails with EFBIG (as a full disk fails with ENOSPC) once SIGXFSZ is ignored
        command = [sys.executable, "-c", (
            "import resource, runpy, signal, sys\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            f"resource.setrlimit(resource.RLIMIT_FSIZE, ({fsize_limit}, resource.RLIM_INFINITY))\n"
            "sys.argv = ['training', *sys.argv[1:]]\n"
            "runpy.run_module('training', run_name='__main__')\n"), *args]
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with log.open("w") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_killed_run_is_marked_failed_by_the_next_run(store, tmp_path, tiny_base, caplog):
    client = MlflowClient()
    config = write_config(tmp_path / "long.yaml", model={"base_model": tiny_base},
                          train={"epochs": 500, "max_steps": 0, "early_stopping_patience": 0,
                                 "linear_probe_init": False})
    proc = training_process(["train", str(config)], store, tmp_path / "killed.log")
    try:
        deadline = time.monotonic() + 180
        while True:  # until the first epoch is logged: the run is mid-training
            assert proc.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "training never logged an epoch"
            exp = client.get_experiment_by_name("tests")
            runs = client.search_runs([exp.experiment_id]) if exp else []
            if runs and "train_loss" in runs[0].data.metrics:
                break
            time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    killed = client.get_run(runs[0].info.run_id)
    assert killed.info.status == "RUNNING"
    assert killed.data.tags[tracking.HOST_TAG] == socket.gethostname()
    assert killed.data.tags[tracking.PID_TAG] == str(proc.pid)
    assert client.search_model_versions() == []

    with caplog.at_level(logging.WARNING, logger="training.tracking"):
        result = train(build_config(tiny_overrides(model={"base_model": tiny_base})))
    assert client.get_run(result.run_id).info.status == "FINISHED"
    assert result.model_version == "1"
    assert [str(mv.version) for mv in client.search_model_versions()] == ["1"]
    killed = client.get_run(killed.info.run_id)
    assert killed.info.status == "FAILED"
    reason = killed.data.tags[tracking.FAILURE_TAG]
    assert f"process {proc.pid} on {socket.gethostname()} died" in reason and "marked FAILED" in reason
    assert any(killed.info.run_id in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def _dead_pid(zombie: bool = False) -> tuple[int, subprocess.Popen]:
    proc = subprocess.Popen(["true"])
    if not zombie:
        proc.wait()
        return proc.pid, proc
    stat = Path(f"/proc/{proc.pid}/stat")
    deadline = time.monotonic() + 10
    while stat.read_text().rpartition(")")[2].split()[0] != "Z":  # exited, not yet reaped
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return proc.pid, proc


def test_an_experiment_another_run_created_meanwhile_is_used(store, monkeypatch):
    client = MlflowClient()
    made = client.create_experiment("raced")  # the other run created it after this one looked
    real = MlflowClient.get_experiment_by_name
    looked: list[str] = []

    def missing_at_first(self, name):
        looked.append(name)
        return None if len(looked) == 1 else real(self, name)

    monkeypatch.setattr(MlflowClient, "get_experiment_by_name", missing_at_first)
    assert tracking.ensure_experiment("raced") == made
    assert looked == ["raced", "raced"]


def test_a_write_that_meets_a_concurrent_one_is_tried_again(monkeypatch):
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, INVALID_PARAMETER_VALUE

    from training.tracking import runs

    monkeypatch.setattr(runs.time, "sleep", lambda s: None)
    conflict = MlflowException("(psycopg2.errors.UniqueViolation) duplicate key value violates unique constraint "
                               "(Background on this error at: https://sqlalche.me/e/21/gkpj)", INTERNAL_ERROR)
    calls: list[int] = []

    def twice_then_done():
        calls.append(1)
        if len(calls) < 3:
            raise conflict
        return "logged"

    assert runs.retry_on_conflict(twice_then_done, "a dataset") == "logged" and len(calls) == 3

    def always(exc):
        def call():
            calls.append(1)
            raise exc
        return call

    calls.clear()
    with pytest.raises(MlflowException, match="duplicate key"):
        runs.retry_on_conflict(always(conflict), "a dataset")
    assert len(calls) == runs.CONFLICT_TRIES
    calls.clear()
    with pytest.raises(MlflowException, match="bad value"):
        runs.retry_on_conflict(always(MlflowException("bad value", INVALID_PARAMETER_VALUE)), "a dataset")
    assert len(calls) == 1


def test_only_runs_of_dead_processes_on_this_host_are_failed(store):
    client = MlflowClient()
    exp = tracking.ensure_experiment("tests")
    host = socket.gethostname()
    dead, _ = _dead_pid()
    zombie, zombie_proc = _dead_pid(zombie=True)

    def run(tags: dict[str, str]) -> str:
        return client.create_run(exp, tags=tags).info.run_id

    try:
        killed = run({"host": host, "pid": str(dead)})
        unreaped = run({"host": host, "pid": str(zombie)})
        alive = run({"host": host, "pid": str(os.getpid())})
        elsewhere = run({"host": host + "-other", "pid": str(dead)})
        untagged = run({})
        # a version the killed run created before registration finished (no alias) is removed;
        # a fully registered one (alias set) is left for a person to judge
        client.create_registered_model("m")
        partial = client.create_model_version("m", f"runs:/{killed}/model", run_id=killed).version
        complete = client.create_model_version("m", f"runs:/{unreaped}/model", run_id=unreaped).version
        client.set_registered_model_alias("m", "candidate", complete)

        assert sorted(tracking.fail_dead_runs(exp)) == sorted([killed, unreaped])
    finally:
        zombie_proc.wait()
    status = {r: client.get_run(r).info.status for r in (killed, unreaped, alive, elsewhere, untagged)}
    assert status == {killed: "FAILED", unreaped: "FAILED", alive: "RUNNING", elsewhere: "RUNNING",
                      untagged: "RUNNING"}
    assert f"process {dead} on {host}" in client.get_run(killed).data.tags["failure_reason"]
    assert "failure_reason" not in client.get_run(alive).data.tags
    assert [str(mv.version) for mv in client.search_model_versions("name = 'm'")] == [str(complete)]
    assert partial != complete
    assert tracking.fail_dead_runs(exp) == []  # already ended: nothing to do twice


@pytest.mark.slow
def test_full_disk_while_saving_the_model_fails_the_run_in_one_line(store, tmp_path, tiny_base):
    client = MlflowClient()
    # 2 MiB: room for the store (~1 MiB), configs and the tokenizer, not for the 4 MiB encoder weights
    config = write_config(tmp_path / "tiny.yaml", model={"base_model": tiny_base})
    proc = training_process(["train", str(config)], store, tmp_path / "full.log", fsize_limit=2 * 2**20)
    assert proc.wait(timeout=300) == 1
    output = (tmp_path / "full.log").read_text()
    assert "Traceback" not in output, output[-3000:]
    last = output.strip().splitlines()[-1]
    location = client.get_experiment_by_name("tests").artifact_location
    assert last == f"error: could not write artifacts to {location}: [Errno 27] File too large"
    [run] = all_runs(client)
    assert run.info.status == "FAILED"
    assert "could not write artifacts" in run.data.tags["failure_reason"]
    assert client.search_model_versions() == [] and client.search_registered_models() == []


def test_artifact_location_that_is_not_a_directory_fails_the_run(store, tmp_path, capsys):
    blocker = tmp_path / "artifacts"
    blocker.write_text("a file where the artifact folder should be")
    client = MlflowClient()
    location = (blocker / "mlruns").as_uri()
    client.create_experiment("tests", artifact_location=location)
    config = write_config(tmp_path / "tfidf.yaml", model={"family": "tfidf"})
    assert training_main(["train", str(config)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"error: could not write artifacts to {location}: [Errno 20] Not a directory: ")
    assert str(blocker) in err[-1]
    [run] = all_runs(client)
    assert run.info.status == "FAILED" and "Not a directory" in run.data.tags["failure_reason"]
    assert client.search_registered_models() == []


def _lines() -> list[str]:
    return CORPUS_FILE.read_text(encoding="utf-8").splitlines()


def _first_line_with(needle: str) -> int:
    return next(i for i, line in enumerate(_lines(), start=1) if needle in line)


def _bad_json(tmp: Path) -> tuple[dict, str]:
    lines = _lines()
    lines[4] = lines[4][:40]
    path = tmp / "corpus" / "tiny.jsonl"
    path.parent.mkdir()
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"data": {"data_dir": str(path.parent)}}, f"{path}:5: [bad-json]"


def _unknown_label(tmp: Path) -> tuple[dict, str]:
    lines = _lines()
    row = json.loads(lines[6])
    row["frames"] = ["energy_coercion"]
    lines[6] = json.dumps(row)
    path = tmp / "corpus" / "tiny.jsonl"
    path.parent.mkdir()
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"data": {"data_dir": str(path.parent)}}, f"{path}:7: [unknown-label] frame(s) ['energy_coercion']"


def _duplicate_codebook_label(tmp: Path) -> tuple[dict, str]:
    text = CODEBOOK.read_text(encoding="utf-8").replace("id: escalation_risk", "id: security_guarantee")
    path = tmp / "codebook.yaml"
    path.write_text(text, encoding="utf-8")
    line = [i for i, t in enumerate(text.splitlines(), start=1) if "id: security_guarantee" in t][1]
    return {"data": {"codebook": str(path)}}, f"{path}:{line}: duplicate frame id 'security_guarantee'"


def _label_removed_from_codebook(tmp: Path) -> tuple[dict, str]:
    data = yaml.safe_load(CODEBOOK.read_text(encoding="utf-8"))
    data["frames"] = [f for f in data["frames"] if f["id"] != "escalation_risk"]
    path = tmp / "codebook.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    line = _first_line_with('"escalation_risk"')
    return {"data": {"codebook": str(path)}}, f"{CORPUS_FILE}:{line}: [unknown-label] frame(s) ['escalation_risk']"


def _config_syntax_error(tmp: Path) -> tuple[str, str]:
    path = tmp / "broken.yaml"
    path.write_text("model:\n  family: tfidf\ntrain:\n  epochs: 1\n   batch_size: 4\n", encoding="utf-8")
    return str(path), f"{path}:5: invalid YAML: mapping values are not allowed here"


def _config_unknown_key(tmp: Path) -> tuple[str, str]:
    path = tmp / "typo.yaml"
    path.write_text("model: {family: tfidf}\ntrain: {epocs: 2}\n", encoding="utf-8")
    return str(path), f"{path}: unknown config key 'train.epocs'"


@pytest.mark.parametrize("broken", [_bad_json, _unknown_label, _duplicate_codebook_label,
                                    _label_removed_from_codebook, _config_syntax_error, _config_unknown_key],
                         ids=lambda f: f.__name__.strip("_"))
def test_bad_input_fails_fast_naming_file_and_line_and_logs_nothing(store, tmp_path, capsys, broken):
    made, expected = broken(tmp_path)
    if isinstance(made, str):  # a broken config file itself
        config = made
    else:
        config = str(write_config(tmp_path / "exp.yaml", model={"family": "tfidf"}, **made))
    started = time.perf_counter()
    assert training_main(["train", config]) == 2
    assert time.perf_counter() - started < 20  # fails while reading input, before any training
    err = capsys.readouterr().err
    assert expected in err, err
    assert "Traceback" not in err
    client = MlflowClient()
    assert all_runs(client) == []
    assert client.search_registered_models() == []
