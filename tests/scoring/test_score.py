"""Batch scoring end to end over the registered tiny model: the same answers as /v1/articles,
every record accounted for, and a rerun that resumes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from scoring.inputs import Article
from scoring.local import article_row, model_columns, passage_row, score_chunk
from serving.app import create_app
from serving.config import Settings
from serving.model import ModelStore

ARTICLE = {"title": "Envoys split over the front line",
           "text": ("GENEVA, Monday\n"
                    "Envoys met again on Monday to weigh a freeze of the front line. Kyiv said it would cede "
                    "no land. Moscow warned that new missiles would widen the war.\n"
                    "Allied ministers discussed a guarantee that would hold after any ceasefire, officials said.\n"
                    "A short closing line about the weather in Geneva and the delayed trains.")}


def same(a, b, tol=1e-5) -> bool:
    """Equal structures, floats within ``tol`` (a batch of passages may round differently from a request's)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k], tol) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(same(x, y, tol) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return abs(a - b) <= tol
    return a == b


def test_batch_rows_equal_the_services_answer(registered_store, tmp_path):
    settings = Settings(model_uri=f"models:/{registered_store['name']}@champion", tracking_uri=registered_store["uri"],
                        cache_dir=tmp_path / "cache")
    with TestClient(create_app(settings)) as client:
        api = client.post("/v1/articles", json=ARTICLE).json()
    model = ModelStore(settings.model_uri, settings.tracking_uri, settings.cache_dir, int8=settings.int8).load()
    article = Article(1, "a1", ARTICLE["text"], ARTICLE["title"])
    (scored,), rejected = score_chunk(model.predictor, [article], None, True, 256)
    assert rejected == []
    _, passages, results, summary = scored
    ident = model_columns(model)
    assert ident["model_version"] == api["model"]["version"] and ident["run_id"] == api["model"]["run_id"]
    assert same(json.loads(article_row(article, summary, ident)["summary"]), api["summary"])
    for i, (p, r) in enumerate(zip(passages, results, strict=True)):
        row, served = passage_row(article, i, p, r, ident), api["passages"][i]
        assert (row["start"], row["end"], row["section"], row["text"]) == (
            served["start"], served["end"], served["source"], served["text"])
        assert row["in_scope"] == pytest.approx(served["in_scope"])
        for f, v in served["frames"].items():
            assert (row[f"frame.{f}.score"], row[f"frame.{f}.label"], row[f"frame.{f}.confident"]) == (
                pytest.approx(v["score"]), v["label"], v["confident"])
        for t, v in served["stance"].items():
            assert row[f"stance.{t}.label"] == v["label"] and row[f"stance.{t}.confident"] == v["confident"]
            assert {lab: row[f"stance.{t}.{lab}"] for lab in v["scores"]} == pytest.approx(v["scores"])


def run_cli(args, store, tmp_path):
    env = {**os.environ, "STANCE_MODEL_URI": f"models:/{store['name']}@champion", "MLFLOW_TRACKING_URI": store["uri"],
           "STANCE_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "scoring", "score", *args, "--quiet"], capture_output=True,
                          text=True, env=env, timeout=600, check=False)


def test_cli_scores_rejects_and_resumes(registered_store, tmp_path):
    records = [{"id": f"a{i}", "text": ARTICLE["text"], "title": f"Title {i}", "published": f"2024-03-0{i + 1}",
                "source": "wire"} for i in range(5)]
    records.insert(2, {"id": "bad", "text": ""})
    records.append({"id": "a0", "text": "a duplicate id"})
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records) + "{broken\n")
    out = tmp_path / "out"
    first = run_cli([str(src), "--out", str(out), "--chunk", "2"], registered_store, tmp_path)
    assert first.returncode == 0, first.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["read"], summary["scored"], summary["rejected"], summary["already_scored"]) == (8, 5, 3, 0)
    assert summary["read"] == summary["scored"] + summary["rejected"] + summary["already_scored"]
    articles = pq.read_table(out / "articles").to_pylist()
    passages = pq.read_table(out / "passages").to_pylist()
    assert sorted(a["article_id"] for a in articles) == [f"a{i}" for i in range(5)]
    assert {a["model_version"] for a in articles + passages} == {registered_store["version"]}
    assert {a["run_id"] for a in articles} == {registered_store["run_id"]}
    assert len({a["model_digest"] for a in articles}) == 1 and articles[0]["published"] == "2024-03-01"
    assert len(passages) == sum(a["passages"] for a in articles)
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert [(r["line"], r["reason"][:12]) for r in rejects] == [(3, "missing 'tex"), (7, "duplicate id"),
                                                               (8, "not JSON: Ex")]

    # a rerun after more articles arrive scores only the new ones
    with src.open("a") as f:
        f.write(json.dumps({"id": "a9", "text": ARTICLE["text"]}) + "\n")
    second = run_cli([str(src), "--out", str(out)], registered_store, tmp_path)
    assert second.returncode == 0, second.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["read"], summary["scored"], summary["already_scored"], summary["rejected"]) == (9, 1, 5, 3)
    assert len(pq.read_table(out / "articles")) == 6
    assert len((out / "rejects.jsonl").read_text().splitlines()) == 3


def test_cli_refuses_an_unknown_format_and_an_unknown_target(registered_store, tmp_path):
    bad = tmp_path / "in.xml"
    bad.write_text("<x/>")
    got = run_cli([str(bad), "--out", str(tmp_path / "o")], registered_store, tmp_path)
    assert got.returncode == 2 and "unknown input format" in got.stderr
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "1", "text": "text"}) + "\n")
    got = run_cli([str(src), "--out", str(tmp_path / "o"), "--targets", "nope"], registered_store, tmp_path)
    assert got.returncode == 2 and "unknown target" in got.stderr
