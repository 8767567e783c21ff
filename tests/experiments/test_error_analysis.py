"""The error-analysis script prints realdev confusions and the most confident errors of a registered model."""

from __future__ import annotations

import sys
from pathlib import Path

import mlflow

from tests.conftest import TINY_REALDEV

sys.path.insert(0, str(Path(__file__).parents[2] / "experiments"))
import error_analysis


def test_error_analysis_on_a_registered_model(registered_store, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered_store["uri"])
    monkeypatch.setenv("STANCE_REALDEV", str(TINY_REALDEV))
    try:
        code = error_analysis.main([f"models:/{registered_store['name']}@champion", "--split", "realdev", "--top", "3"])
    finally:
        mlflow.set_tracking_uri(None)
    out = capsys.readouterr().out
    assert code == 0
    assert "=== realdev: 6 passages" in out
    for target in ("nato_protection", "territorial_concession"):
        assert f"\n{target}: macro-F1" in out
    assert "gold \\ predicted" in out and "direction errors" in out
    # a tiny model trained for two steps errs: three errors are listed, most confident first
    listed = [line for line in out.splitlines() if line.startswith((" 1. [", " 2. [", " 3. ["))]
    assert len(listed) == 3 and all("[rd-test-0" in line for line in listed)
