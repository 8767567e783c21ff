"""Routing, validation and error handling with a fake predictor (no model, no registry)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.config import Settings
from serving.model import ModelLoadError
from tests.serving.fakes import TOKEN, FakePredictor, fake_loaded, make_client


def test_classify_contract(client):
    r = client.post("/v1/classify", json={"texts": ["A missile guarantee", "land, yes"]})
    assert r.status_code == 200
    body = r.json()
    assert body["model"] == {"name": "stance-framing", "version": "1", "alias": "champion", "run_id": "run1"}
    assert len(body["results"]) == 2
    first, second = body["results"]
    assert set(first["frames"]) == {"security_guarantee", "territorial_compromise", "escalation_risk"}
    assert first["frames"]["escalation_risk"] == {"score": 0.9, "label": True, "confident": True}
    assert first["frames"]["territorial_compromise"]["label"] is False
    assert second["frames"]["territorial_compromise"]["label"] is True
    assert second["stance"]["nato_protection"]["label"] == "favor"
    assert set(second["stance"]["nato_protection"]["scores"]) == {"favor", "against", "neutral"}
    assert second["stance"]["nato_protection"]["confident"] is False
    assert set(first["stance"]) == {"nato_protection", "territorial_concession"}
    assert first["in_scope"] == 0.9


def test_classify_subset_of_targets(client):
    r = client.post("/v1/classify", json={"texts": ["x"], "targets": ["territorial_concession"]})
    assert r.status_code == 200
    assert list(r.json()["results"][0]["stance"]) == ["territorial_concession"]


@pytest.mark.parametrize("body, status, needle", [
    ({"texts": []}, 422, "texts"),
    ({"texts": ["   "]}, 422, "texts[0]' is empty"),
    ({"texts": ["ok", ""]}, 422, "texts[1]"),
    ({"texts": ["x"] * 65}, 413, "limit is 64"),
    ({"texts": ["x" * 20_001]}, 413, "limit is 20000"),
    ({"texts": ["x"], "targets": ["eu_membership"]}, 422, "eu_membership"),
    ({"texts": "not a list"}, 422, "texts"),
    ({"texts": [1, 2]}, 422, "texts"),
    ({"text": ["wrong field"]}, 422, "texts"),
    ({"texts": ["x"], "extra": 1}, 422, "extra"),
    ([1, 2, 3], 422, "body"),
])
def test_classify_rejects_bad_input(client, body, status, needle):
    r = client.post("/v1/classify", json=body)
    assert r.status_code == status, r.text
    assert needle in json.dumps(r.json()["detail"])
    assert r.json()["request_id"]


def test_invalid_json_encoding_and_content_type(client):
    r = client.post("/v1/classify", content=b'{"texts": [', headers={"content-type": "application/json"})
    assert r.status_code == 422 and "JSON" in json.dumps(r.json())
    r = client.post("/v1/classify", content=b'{"texts": ["\xff\xfe"]}', headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500
    r = client.post("/v1/classify", content=b"texts=a", headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415 and "application/json" in r.json()["detail"]
    r = client.post("/invocations", content=b'{"inputs": ["\xff"]}', headers={"content-type": "application/json"})
    assert r.status_code == 400 and "UTF-8" in r.json()["detail"]


def test_body_limit(client):
    big = json.dumps({"texts": ["word " * 250_000]}).encode()
    r = client.post("/v1/classify", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "1000000" in r.json()["detail"]


def test_body_limit_without_content_length():
    async def run():
        with make_client() as c:
            transport = httpx.ASGITransport(app=c.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as ac:
                async def chunks():
                    yield b'{"texts": ["'
                    for _ in range(30):
                        yield b"a" * 50_000
                    yield b'"]}'
                return await ac.post("/v1/classify", content=chunks(), headers={"content-type": "application/json"})
    r = asyncio.run(run())
    assert r.status_code == 413


def test_request_id_echoed_or_generated(client):
    r = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r2 = client.get("/healthz")
    assert len(r2.headers["x-request-id"]) == 32


def test_articles_split_offsets_and_summary(client):
    text = ("Kyiv will cede no land, officials said on Sunday evening. A missile test followed.\n\n"
            "The guarantee talks resumed on Monday in the capital city.\n"
            "A final paragraph about grain prices and the coming harvest season.")
    r = client.post("/v1/articles", json={"title": "Land talks stall", "text": text})
    assert r.status_code == 200, r.text
    body = r.json()
    passages = body["passages"]
    assert passages[0]["source"] == "title" and passages[0]["text"] == "Land talks stall"
    for p in passages[1:]:
        assert text[p["start"]:p["end"]] == p["text"]
    assert [p["index"] for p in passages] == list(range(len(passages)))
    summary = body["summary"]
    assert summary["passages"] == 4
    assert summary["frames"]["territorial_compromise"]["share"] == pytest.approx(2 / 4)
    assert summary["frames"]["escalation_risk"]["max_score"] == pytest.approx(0.9)
    ev = summary["frames"]["escalation_risk"]["evidence"]
    assert ev[0]["passage"] == 1 and [s["text"] for s in ev[0]["sentences"]] == ["A missile test followed."]
    guarantee = summary["frames"]["security_guarantee"]["evidence"][0]["sentences"][0]
    assert guarantee["text"] == "The guarantee talks resumed on Monday in the capital city."
    assert text[guarantee["start"]:guarantee["end"]] == guarantee["text"]
    land = summary["frames"]["territorial_compromise"]["evidence"]
    assert [(e["passage"], e["source"]) for e in land] == [(0, "title"), (1, "text")]
    assert land[0]["sentences"][0]["start"] == 0 and land[0]["sentences"][0]["text"] == "Land talks stall"
    # passage 1 has two sentences: only the one carrying the frame alone is cited, at its place in the text
    (only,) = land[1]["sentences"]
    assert only["text"] == "Kyiv will cede no land, officials said on Sunday evening."
    assert text[only["start"]:only["end"]] == only["text"]
    assert set(summary["stance"]) == {"nato_protection", "territorial_concession"}
    # "no " marks passage 1 as against in the fake: one side only, margin 1, its sentence cited
    stance = summary["stance"]["territorial_concession"]
    assert stance["label"] == "against" and stance["margin"] == 1.0
    assert stance["weights"] == {"favor": 0.0, "against": pytest.approx(0.8)}
    assert [(e["label"], e["passage"]) for e in stance["evidence"]] == [("against", 1)]


def test_articles_split_long_paragraphs_at_sentences(client):
    sentence = "The envoy described a long list of conditions for the ceasefire talks in detail. "
    text = sentence * 30
    r = client.post("/v1/articles", json={"text": text})
    passages = r.json()["passages"]
    assert len(passages) >= 3
    for p in passages:
        assert len(p["text"].split()) <= 100
        assert p["text"].endswith(".")


@pytest.mark.parametrize("body, status", [
    ({"text": "   "}, 422), ({"title": "t"}, 422), ({"text": "x", "targets": ["nope"]}, 422),
    ({"text": "x" * 200_001}, 413),
])
def test_articles_bad_input(client, body, status):
    assert client.post("/v1/articles", json=body).status_code == status


def test_labels_model_health_ready_metrics(client):
    assert client.get("/v1/labels").json()["frames"][0]["id"] == "security_guarantee"
    info = client.get("/v1/model").json()
    assert info["version"] == "1" and info["source"] == "registry" and info["family"] == "fake"
    assert info["thresholds"]["escalation_risk"] == 0.5
    assert client.get("/healthz").json() == {"status": "alive"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["version"] == "1"
    client.post("/v1/classify", json={"texts": ["a"]})
    text = client.get("/metrics").text
    assert 'http_requests_total{method="POST",route="/v1/classify",status="200"}' in text
    assert "model_batch_size_bucket" in text
    assert 'model_info{name="stance-framing",source="registry",version="1"} 1.0' in text


def test_not_ready_answers_503_with_retry_after():
    def failing(allow_cache):
        raise ModelLoadError("registry down and no local copy")

    with make_client(loader=failing) as c:
        assert c.get("/healthz").status_code == 200
        r = c.get("/readyz")
        assert r.status_code == 503 and r.headers["retry-after"]
        assert "registry down" in r.json()["error"]
        r = c.post("/v1/classify", json={"texts": ["a"]})
        assert r.status_code == 503 and "retry-after" in r.headers


def test_reload_requires_token_and_swaps():
    versions = iter(["1", "2"])
    with make_client(loader=lambda allow_cache: fake_loaded(next(versions))) as c:
        assert c.post("/admin/reload").status_code == 401
        assert c.post("/admin/reload", headers={"Authorization": "Bearer wrong"}).status_code == 401
        r = c.post("/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200, r.text
        assert r.json()["previous"]["version"] == "1" and r.json()["model"]["version"] == "2"
        assert c.get("/v1/model").json()["version"] == "2"


def test_reload_failure_keeps_old_model():
    calls = {"n": 0}

    def loader(allow_cache):
        calls["n"] += 1
        if calls["n"] > 1:
            assert allow_cache is False  # a reload never falls back to the local copy
            raise ModelLoadError("version 2 failed to load: bad weights")
        return fake_loaded("1")

    with make_client(loader=loader) as c:
        r = c.post("/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 502 and "bad weights" in r.json()["detail"]
        assert r.json()["serving"]["version"] == "1"
        assert c.post("/v1/classify", json={"texts": ["a"]}).status_code == 200
        assert c.get("/v1/model").json()["version"] == "1"


def test_admin_disabled_without_token():
    app = create_app(Settings(), loader=lambda allow_cache: fake_loaded())
    with TestClient(app) as c:
        assert c.post("/admin/reload", headers={"Authorization": "Bearer anything-at-all-x"}).status_code == 404


def test_model_error_is_not_a_client_error_but_never_leaks_text(client, caplog):
    with make_client(loader=lambda allow_cache: fake_loaded(predictor=FakePredictor(fail_on="BOOM"))) as c:
        r = c.post("/v1/classify", json={"texts": ["secret passage BOOM"]})
        assert r.status_code == 500
        assert "secret passage" not in caplog.text


def test_logs_never_contain_passage_text(client, caplog):
    caplog.set_level("INFO")
    client.post("/v1/classify", json={"texts": ["a very private passage about land"]})
    assert "private passage" not in caplog.text
    assert '"route": "/v1/classify"' in caplog.text


def test_settings_refuse_unsafe_values():
    with pytest.raises(ValueError, match="registry URI"):
        Settings(model_uri="runs:/abc/model")
    with pytest.raises(ValueError, match="at least 16"):
        Settings(admin_token="short")
    with pytest.raises(ValueError, match="'\\*'"):
        Settings(cors_origins=["*"])


def test_cors_off_by_default(client):
    r = client.options("/v1/classify", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers


def test_an_unexpected_error_is_a_json_500_with_request_id_counted_and_logged(caplog):
    caplog.set_level("INFO")
    with make_client(loader=lambda allow_cache: fake_loaded(predictor=FakePredictor(fail_on="BOOM"))) as c:
        r = c.post("/v1/classify", json={"texts": ["BOOM"]}, headers={"x-request-id": "last-resort-1"})
        assert r.status_code == 500 and r.headers["content-type"].startswith("application/json")
        assert r.json()["request_id"] == "last-resort-1" and "RuntimeError" in r.json()["detail"]
        metrics = c.get("/metrics").text
    assert 'route="/v1/classify",status="500"' in metrics
    logged = [rec for rec in caplog.records if rec.exc_info and "last-resort-1" in rec.getMessage()]
    assert logged and "model exploded" in caplog.text
    from serving.__main__ import JsonFormatter

    line = json.loads(JsonFormatter().format(logged[0]))  # the service's log format keeps the traceback
    assert "RuntimeError: model exploded" in line["traceback"] and "last-resort-1" in line["message"]
    assert any('"request_id": "last-resort-1"' in rec.getMessage() and '"status": 500' in rec.getMessage()
               for rec in caplog.records)


def test_the_bearer_scheme_is_case_insensitive():
    versions = iter(["1", "2", "3"])
    with make_client(loader=lambda allow_cache: fake_loaded(next(versions))) as c:
        assert c.post("/admin/reload", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200
        assert c.post("/admin/reload", headers={"Authorization": f"BEARER {TOKEN}"}).status_code == 200
        assert c.post("/admin/reload", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
        assert c.post("/admin/reload", headers={"Authorization": TOKEN}).status_code == 401


def test_the_queue_gauge_falls_back_to_zero_when_idle(client):
    import re

    for _ in range(3):
        assert client.post("/v1/classify", json={"texts": ["one", "two", "three"]}).status_code == 200
    gauge = re.search(r"^inference_queue_passages (\S+)$", client.get("/metrics").text, re.MULTILINE)
    assert gauge and float(gauge.group(1)) == 0.0


def test_article_stance_evidence_sentences_point_into_the_text(client):
    text = ("The talks opened in Geneva on a grey morning.\n"
            "Yes, said the minister, the alliance must take Kyiv in. The hall applauded loudly.")
    body = client.post("/v1/articles", json={"text": text, "targets": ["nato_protection"]}).json()
    stance = body["summary"]["stance"]
    assert list(stance) == ["nato_protection"] and stance["nato_protection"]["label"] == "favor"
    (item,) = stance["nato_protection"]["evidence"]
    assert item["label"] == "favor" and item["source"] == "text"
    assert [s["text"] for s in item["sentences"]] == ["Yes, said the minister, the alliance must take Kyiv in."]
    for s in item["sentences"]:
        assert text[s["start"]:s["end"]] == s["text"]


def test_article_evidence_without_sentences_labels_nothing_more(client):
    text = "Yes, the alliance must take Kyiv in. The hall applauded.\nA missile test followed on Monday near the northern border."
    fake = client.app.state.service.model.predictor
    before = len(fake.batches)
    body = client.post("/v1/articles", json={"text": text, "evidence_sentences": False}).json()
    assert sum(fake.batches[before:]) == 2  # the two passages, no sentence labelled again
    (item,) = body["summary"]["stance"]["nato_protection"]["evidence"]
    assert item["passage"] == 0 and item["sentences"] == []
    with_sentences = client.post("/v1/articles", json={"text": text}).json()
    assert with_sentences["summary"]["stance"]["nato_protection"]["evidence"][0]["sentences"]
