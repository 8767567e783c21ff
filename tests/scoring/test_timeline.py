"""Timelines recover a trend injected into a generated scored archive."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from scoring.output import OutputDir
from scoring.timeline import TimelineError, timeline

FRAMES = ("security_guarantee", "territorial_compromise", "escalation_risk")
WEEKS = 8
PER_WEEK = 60


def archive(tmp_path, seed=0):
    """Weeks 1..8 of articles (3 passages each) in which escalation_risk is carried at a rate rising
    0.1 a week; territorial_concession is 'against' in half the articles of even weeks."""
    rng = np.random.default_rng(seed)
    out = OutputDir(tmp_path / "scored", "parquet", "digest")
    injected = {}
    monday = dt.date(2024, 1, 1)
    for w in range(WEEKS):
        rate = 0.1 * (w + 1)
        passages, articles = [], []
        carried = 0
        for a in range(PER_WEEK):
            aid = f"w{w}-{a}"
            escalation = rng.random() < rate
            carried += escalation
            for i in range(3):
                passages.append({"article_id": aid, "passage_index": i, "model_digest": "digest",
                                 "frame.security_guarantee.label": i == 0,
                                 "frame.territorial_compromise.label": False,
                                 "frame.escalation_risk.label": bool(escalation and i == 2)})
            articles.append({"article_id": aid, "model_digest": "digest", "source": "wire" if a % 2 else "daily",
                             "published": (monday + dt.timedelta(days=7 * w + a % 7)).isoformat(),
                             **{f"frame.{f}.share": 0.0 for f in FRAMES},
                             "stance.territorial_concession.label": "against" if w % 2 == 0 and a % 2 else "neutral",
                             "stance.nato_protection.label": "not addressed"})
        injected[monday + dt.timedelta(days=7 * w)] = carried
        out.write_part(passages, articles)
    out.write_part([{"article_id": "undated", "passage_index": 0, "model_digest": "digest",
                     **{f"frame.{f}.label": True for f in FRAMES}}],
                   [{"article_id": "undated", "model_digest": "digest", "source": None, "published": None,
                     **{f"frame.{f}.share": 1.0 for f in FRAMES},
                     "stance.territorial_concession.label": "favor", "stance.nato_protection.label": "favor"}])
    return out.root, injected


def test_weekly_trend_is_recovered(tmp_path):
    folder, injected = archive(tmp_path)
    table, counts = timeline(folder, "week")
    assert counts == {"articles": WEEKS * PER_WEEK + 1, "undated": 1, "passages": 3 * WEEKS * PER_WEEK + 1}
    assert list(table["period"]) == sorted(injected) and (table["articles"] == PER_WEEK).all()
    assert list(table["frame.escalation_risk.articles"]) == [injected[p] for p in sorted(injected)]
    share = table["frame.escalation_risk.article_share"].to_numpy()
    assert share == pytest.approx(0.1 * np.arange(1, WEEKS + 1), abs=0.15)  # the injected rates, sampling aside
    assert np.polyfit(np.arange(WEEKS), share, 1)[0] == pytest.approx(0.1, abs=0.03)
    assert table["frame.escalation_risk.passage_share"].to_numpy() == pytest.approx(share / 3)
    assert (table["frame.security_guarantee.article_share"] == 1.0).all()
    assert list(table["stance.territorial_concession.against"]) == [PER_WEEK // 2 if w % 2 == 0 else 0
                                                                    for w in range(WEEKS)]
    assert (table["stance.nato_protection.not addressed.share"] == 1.0).all()


def test_split_by_source_and_months(tmp_path):
    folder, _ = archive(tmp_path)
    table, _ = timeline(folder, "week", split_by_source=True)
    assert set(table["source"]) == {"wire", "daily"} and table["articles"].sum() == WEEKS * PER_WEEK
    months, _ = timeline(folder, "month")
    assert [str(p) for p in months["period"]] == ["2024-01-01", "2024-02-01"]
    with pytest.raises(TimelineError, match="not a scored folder"):
        timeline(tmp_path / "nothing")


def test_cli_writes_the_table_and_chart_and_logs_them_to_a_run(tmp_path, sqlite_store):
    import mlflow

    folder, _ = archive(tmp_path)
    with mlflow.start_run() as run:
        pass
    got = subprocess.run([sys.executable, "-m", "scoring", "timeline", str(folder), "--run-id", run.info.run_id],
                         capture_output=True, text=True, timeout=300, check=False)
    assert got.returncode == 0, got.stderr
    table = pd.read_csv(folder / "timeline-week.csv")
    assert len(table) == WEEKS and (folder / "timeline-week.png").stat().st_size > 10_000
    logged = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "timeline")}
    assert logged == {"timeline/timeline-week.csv", "timeline/timeline-week.png"}
    bad = subprocess.run([sys.executable, "-m", "scoring", "timeline", str(folder), "--run-id", "0" * 32],
                         capture_output=True, text=True, timeout=300, check=False)
    assert bad.returncode == 3 and "not logged" in bad.stderr
