"""End to end on tiny data: train 2 steps, register, promote, load the pyfunc, predict; and failures."""

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from labels.codebook import load_codebook
from tests.conftest import tiny_overrides
from training.__main__ import main as training_main
from training.overrides import build_config
from training.promote import PromotionError, promote
from training.tracking.registry import DESCRIPTION_LIMIT, fit_description
from training.trainer import train


def test_train_register_promote_load_predict(sqlite_store, tmp_path):
    result = train(build_config(tiny_overrides(tracking={"log_figures": True})))
    client = MlflowClient()
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    # resolved params, codebook and corpus identity, git commit, per-epoch and final metrics
    assert run.data.params["model.family"] == "finetune" and run.data.params["train.max_steps"] == "2"
    assert run.data.tags["codebook_version"] == load_codebook().version and len(run.data.tags["corpus_digest"]) == 64
    assert "git_commit" in run.data.tags
    for key in ("val_frames_macro_f1", "test_frames_macro_f1", "test_stance_macro_f1",
                "test_stance_nato_protection_favg", "test_frame_escalation_risk_f1", "train_loss",
                "realdev_frames_macro_f1", "realdev_stance_macro_f1", "realdev_stance_macro_f1_ci_low",
                "realdev_stance_macro_f1_ci_high", "realdev_stance_nato_protection_favg"):
        assert key in run.data.metrics, key
    m = run.data.metrics
    assert m["realdev_stance_macro_f1_ci_low"] <= m["realdev_stance_macro_f1"] <= m["realdev_stance_macro_f1_ci_high"]
    assert run.data.tags["realdev_passages"] == "6" and len(run.data.tags["realdev_digest"]) == 64
    answers = [json.loads(line) for line in mlflow.artifacts.load_text(
        f"runs:/{result.run_id}/reports/realdev_predictions.jsonl").splitlines()]
    assert [a["id"] for a in answers] == [f"rd-test-0{i}" for i in range(1, 7)]
    assert answers[0]["stance"]["nato_protection"] == "favor" and set(answers[0]["stance_scores"]["nato_protection"]) == {
        "favor", "against", "neutral"}
    assert [m.step for m in client.get_metric_history(result.run_id, "train_loss")] == [1]
    assert [m.step for m in client.get_metric_history(result.run_id, "epoch_val_frames_macro_f1")] == [1]
    assert run.data.metrics["val_frames_macro_f1"] == result.metrics["val_frames_macro_f1"]
    inputs = run.inputs.dataset_inputs
    assert {i.tags[0].value for i in inputs} == {"train", "validation", "test"}
    artifacts = {a.path for a in client.list_artifacts(result.run_id, "figures")}
    assert "figures/confusion_test.png" in artifacts and "figures/thresholds_validation.png" in artifacts
    assert client.list_artifacts(result.run_id, "reports")
    # registered as candidate, with a model card
    mv = client.get_model_version_by_alias("stance-framing", "candidate")
    assert str(mv.version) == result.model_version
    assert "model card" in mv.description and result.metrics and "Corpus digest" in mv.description
    assert "realdev (real news)" in mv.description and f"{m['realdev_stance_macro_f1']:.3f} [" in mv.description
    assert mv.tags["realdev_stance_macro_f1"] == f"{m['realdev_stance_macro_f1']:.4f}"
    # promote: no champion yet -> promoted
    outcome = promote("stance-framing")
    assert outcome.promoted
    assert str(client.get_model_version_by_alias("stance-framing", "champion").version) == str(mv.version)
    # load the champion as pyfunc and predict
    model = mlflow.pyfunc.load_model("models:/stance-framing@champion")
    out = model.predict(pd.DataFrame({"text": ["Kyiv rejects any freeze of the front line, ministers said."]}))
    assert len(out) == 1
    assert {"frame.security_guarantee.score", "frame.security_guarantee.label",
            "stance.nato_protection.label", "stance.territorial_concession.favor"} <= set(out.columns)
    assert out["stance.nato_protection.label"][0] in {"favor", "against", "neutral"}
    assert model.metadata.signature is not None


def test_worse_candidate_is_not_promoted_unless_forced(sqlite_store):
    first = train(build_config(tiny_overrides(train={"max_steps": 2})))
    assert promote("stance-framing").promoted
    client = MlflowClient()
    second = train(build_config(tiny_overrides(train={"max_steps": 1, "seed": 7})))
    # make the comparison deterministic: pretend the new run is far better on validation but worse on
    # realdev stance beyond the noise band, which the rule refuses whatever the score
    for key in ("val_frames_macro_f1", "val_stance_macro_f1", "realdev_frames_macro_f1"):
        client.log_metric(second.run_id, key, 1.0)
    client.log_metric(second.run_id, "realdev_stance_macro_f1", first.metrics["realdev_stance_macro_f1"] - 0.05)
    outcome = promote("stance-framing")
    assert not outcome.promoted and "realdev stance" in outcome.reason
    assert str(client.get_model_version_by_alias("stance-framing", "champion").version) == first.model_version
    mv = client.get_model_version("stance-framing", second.model_version)
    assert mv.tags["promotion.decision"] == "rejected"
    assert "Promotion check" in mv.description and "champion" in mv.description
    # PostgreSQL stores refuse a description over 5,000 characters: the card's config list gives way
    assert len(mv.description) <= DESCRIPTION_LIMIT and "realdev (real news)" in mv.description
    full = client.get_run(second.run_id).data.tags["mlflow.note.content"]
    assert len(full) + len(mv.description.split("## Promotion check")[1]) > DESCRIPTION_LIMIT  # it had to give way
    assert "`config/resolved_config.yaml`" in mv.description and "- `train.seed`" in full
    with pytest.raises(PromotionError, match="--reason"):
        promote("stance-framing", force=True)
    # the leaderboard ranks by the same rule: the refused candidate sits below the champion
    from training.report import champion_run_id, fetch_runs, ranked

    order = [r.info.run_id for r, _ in ranked(fetch_runs("tests"), champion_run_id())]
    assert order.index(first.run_id) < order.index(second.run_id)
    # within the band and better on the score, it wins, and ranks first
    client.log_metric(second.run_id, "realdev_stance_macro_f1", first.metrics["realdev_stance_macro_f1"] - 0.03)
    assert next(r.info.run_id for r, _ in ranked(fetch_runs("tests"), champion_run_id())) == second.run_id
    assert promote("stance-framing").promoted
    client.set_registered_model_alias("stance-framing", "champion", first.model_version)
    client.log_metric(second.run_id, "realdev_stance_macro_f1", first.metrics["realdev_stance_macro_f1"] - 0.05)
    forced = promote("stance-framing", force=True, reason="annotation fix")
    assert forced.promoted and "annotation fix" in forced.reason
    assert str(client.get_model_version_by_alias("stance-framing", "champion").version) == second.model_version


def test_failed_run_is_marked_failed_and_registers_nothing(sqlite_store, monkeypatch):
    from training import trainer

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(trainer, "log_evaluation", boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        train(build_config(tiny_overrides(tracking={"log_figures": True})))
    client = MlflowClient()
    runs = client.search_runs([client.get_experiment_by_name("tests").experiment_id])
    assert [r.info.status for r in runs] == ["FAILED"]
    assert client.search_model_versions("name='stance-framing'") == []


def test_cli_reports_config_and_corpus_errors(sqlite_store, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: {epocs: 2}\n")
    assert training_main(["train", str(bad)]) == 2
    assert "train.epocs" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert training_main(["train", "--data.data_dir=" + str(empty)]) == 2
    assert "no *.jsonl files" in capsys.readouterr().err
    assert training_main(["promote", "--name", "nothing-here"]) == 1


def test_each_run_logs_only_its_familys_params_and_carries_its_model_card(sqlite_store):
    tfidf = train(build_config(tiny_overrides(model={"family": "tfidf"}, tracking={"register": False})))
    tuned = train(build_config(tiny_overrides(tracking={"register": False})))
    client = MlflowClient()
    params = client.get_run(tfidf.run_id).data.params
    assert {"model.family", "model.logreg_c", "model.tfidf_max_features", "data.split_seed"} <= set(params)
    assert not {"train.learning_rate", "model.freeze_layers", "model.base_model", "train.epochs"} & set(params)
    assert {"train.learning_rate", "model.freeze_layers", "model.tfidf_blend"} <= \
        set(client.get_run(tuned.run_id).data.params)
    note = client.get_run(tfidf.run_id).data.tags["mlflow.note.content"]
    assert "realdev" in note and "| metric |" in note
    assert "interpolation_alpha" not in client.get_run(tfidf.run_id).data.metrics and "Weights kept" not in note
    alpha = client.get_run(tuned.run_id).data.metrics["interpolation_alpha"]
    assert f"Weights kept: {alpha:.1f} x fine-tuned" in client.get_run(tuned.run_id).data.tags["mlflow.note.content"]


def test_cli_train_ends_with_the_run_in_the_mlflow_ui(sqlite_store, capsys):
    from mlflow import MlflowClient

    config = Path(__file__).resolve().parents[2] / "experiments" / "configs" / "smoke.yaml"
    assert training_main(["train", str(config), "--tracking.log_figures=false", "--train.torch_threads=1"]) == 0
    out = capsys.readouterr().out
    (run,) = MlflowClient().search_runs([MlflowClient().get_experiment_by_name("smoke").experiment_id])
    assert f"in the MLflow UI (make ui): http://127.0.0.1:5000/#/experiments/{run.info.experiment_id}/runs/" \
           f"{run.info.run_id}" in out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_a_copied_store_keeps_its_artifacts_in_its_own_folder(tmp_path, monkeypatch):
    """A checkout copied with its mlflow.db and mlruns/ reads and writes artifacts in the copy, never
    in the original's folder."""
    import shutil

    from tests.conftest import download_version, train_tiny_into

    original = tmp_path / "original"
    original.mkdir()
    first = train_tiny_into(f"sqlite:///{original / 'mlflow.db'}", "sf-copy")
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    shutil.move(original, tmp_path / "original-moved-away")  # anything still pointing there would fail
    uri = f"sqlite:///{copy / 'mlflow.db'}"
    second = train_tiny_into(uri, "sf-copy")
    client = MlflowClient(uri, uri)
    for result in (first, second):
        assert client.get_run(result.run_id).info.artifact_uri.startswith((copy / "mlruns").as_uri())
    assert (copy / "mlruns" / second.run_id).is_dir()
    assert not (tmp_path / "original").exists()
    dest = download_version(uri, "sf-copy", first.model_version, tmp_path / "dl")  # the first run's model
    assert any(dest.rglob("meta.json"))


def test_training_against_a_real_mlflow_server(tmp_path, monkeypatch):
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "artifacts"), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        uri = f"http://127.0.0.1:{port}"
        deadline = time.time() + 90
        import urllib.request

        while True:
            try:
                urllib.request.urlopen(f"{uri}/health", timeout=2)
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    pytest.fail("mlflow server did not start")
                time.sleep(1)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        result = train(build_config(tiny_overrides(model={"family": "tfidf"})))
        client = MlflowClient(uri)
        assert client.get_run(result.run_id).info.status == "FINISHED"
        assert str(client.get_model_version_by_alias("stance-framing", "candidate").version) == result.model_version
        model = mlflow.pyfunc.load_model(f"models:/stance-framing/{result.model_version}")
        assert len(model.predict(pd.DataFrame({"text": ["NATO leaders met in Vilnius."]}))) == 1
        assert Path(tmp_path / "artifacts").exists()
    finally:
        server.terminate()
        server.wait(timeout=30)
        mlflow.set_tracking_uri(None)


def test_a_description_too_long_for_the_registry_loses_its_config_list_then_its_end():
    card = "# card\n\n## Metrics\n| a | b |\n\n## Config\n" + "- `k`: `v`\n" * 600 + "\n## Limits\n- none\n"
    fitted = fit_description(card + "\n## Promotion check (promoted)\n| x | 1 |")
    assert len(fitted) <= DESCRIPTION_LIMIT and "- `k`" not in fitted
    assert fitted.startswith("# card\n\n## Metrics") and "## Limits" in fitted and fitted.endswith("| x | 1 |")
    assert fit_description("short") == "short"
    cut = fit_description("x" * 6000)
    assert len(cut) == DESCRIPTION_LIMIT and cut.endswith("the whole card is the run's description)")
