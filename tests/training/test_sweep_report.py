"""Sweeps nest child runs under a parent; the report reads runs back from MLflow."""

from pathlib import Path

import pytest
from mlflow import MlflowClient

from training.config import ConfigError
from training.report import write_report
from training.sweep import load_sweep, run_sweep

ROOT = Path(__file__).parents[2]


def test_sweep_runs_children_under_a_parent_and_report_reads_them(sqlite_store, tmp_path):
    parent, children = run_sweep(ROOT / "experiments" / "sweeps" / "smoke.yaml")
    client = MlflowClient()
    assert len(children) == 3
    for child in children:
        run = client.get_run(child)
        assert run.data.tags["mlflow.parentRunId"] == parent
        assert run.info.status == "FINISHED"
    names = {client.get_run(c).info.run_name for c in children}
    assert names == {"smoke[seed=1]", "smoke[seed=2]", "smoke[seed=3]"}
    assert client.search_model_versions("name='stance-framing'") == []  # register: false

    out = tmp_path / "reports"
    out.mkdir()
    (out / "learning_curves.png").write_bytes(b"a chart of other runs")
    path = write_report("smoke", out)
    assert not (out / "learning_curves.png").exists()  # no learning-curve runs here: no stale chart left
    md = path.read_text()
    for name in names:
        assert name in md
    assert "val frames / stance" in md and "realdev stance" in md and "realdev F_avg nato_protection" in md
    # ranked by the promotion rule: the table's first run has the best selection score of those passing the gates
    from training import selection
    from training.report import fetch_runs, ranked

    order = ranked(fetch_runs("smoke"))
    first = order[0][0]
    assert first.info.run_name in md.split("| 1 | ")[1].split("|")[0]
    assert not order[0][1] and all(
        selection.score(first.data.metrics) >= selection.score(r.data.metrics) for r, failed in order if not failed)
    assert (out / "per_label_f1.png").stat().st_size > 5000
    exp = client.get_experiment_by_name("smoke")
    reports = client.search_runs([exp.experiment_id], "tags.kind = 'report'")
    assert len(reports) == 1
    assert {a.path for a in client.list_artifacts(reports[0].info.run_id, "report")} >= {
        "report/leaderboard.md", "report/per_label_f1.png"}
    # a second report does not count the first report as a training run
    assert write_report("smoke", out, log_run=False).read_text().count("smoke[seed=") == 3


def test_learning_curve_chart(sqlite_store, tmp_path):
    sweep = tmp_path / "learning_curve_smoke.yaml"
    sweep.write_text(f"""name: learning_curve_smoke
base: {ROOT / 'experiments' / 'configs' / 'smoke.yaml'}
grid:
  model.family: [tfidf]
  data.train_fraction: [0.5, 1.0]
overrides: {{tracking: {{register: false}}}}
""")
    run_sweep(sweep)
    write_report("smoke", tmp_path / "out", log_run=False)
    assert (tmp_path / "out" / "learning_curves.png").exists()


@pytest.mark.parametrize("text, message", [
    ("grid: {train.epochs: []}\n", "non-empty lists"),
    ("grid: {train.epocs: [1]}\n", "train.epocs"),
    ("grid: {epochs: [1]}\n", "section.key"),
    ("grid: {train.epochs: [1]}\nextra: 1\n", "unknown sweep key"),
])
def test_bad_sweep_files(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_sweep(path)


def test_report_without_runs_is_a_clear_error(sqlite_store, tmp_path):
    with pytest.raises(ValueError, match="no MLflow experiment"):
        write_report("nothing", tmp_path)


def test_report_can_restrict_to_one_corpus(sqlite_store, tmp_path):
    from tests.conftest import tiny_overrides
    from training.overrides import build_config
    from training.trainer import train

    result = train(build_config(tiny_overrides(model={"family": "tfidf"}, tracking={"register": False})))
    digest = MlflowClient().get_run(result.run_id).data.tags["corpus_digest"]
    md = write_report("tests", tmp_path, log_run=False, corpus_digest=digest).read_text()
    assert f"on corpus `{digest[:16]}`" in md
    with pytest.raises(ValueError, match="on corpus"):
        write_report("tests", tmp_path, log_run=False, corpus_digest="0" * 64)
