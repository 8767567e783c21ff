"""POST /v1/corrections: off without a token, 401 and nothing written on a wrong one, 422 naming unknown labels,
the served model's answer stored beside the correction, a clear error when the queue cannot be written."""

from __future__ import annotations

import json
from pathlib import Path

from tests.serving.fakes import make_client

ANNOTATION_TOKEN = "annotator-token-0123456789"
BODY = {"text": "The guarantee must cover the whole country, yes.", "title": "Kyiv's terms", "date": "2026-11-30",
        "correction": {"frames": {"escalation_risk": True}, "stance": {"territorial_concession": "against"}},
        "note": "the minister rules out a split"}
AUTH = {"Authorization": f"Bearer {ANNOTATION_TOKEN}"}


def _client(tmp_path: Path, **settings):
    return make_client(annotation_token=ANNOTATION_TOKEN, corrections_path=tmp_path / "queue" / "c.jsonl",
                       **settings)


def _lines(tmp_path: Path) -> list[dict]:
    path = tmp_path / "queue" / "c.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def test_a_correction_is_queued_with_the_served_models_answer(tmp_path):
    with _client(tmp_path) as client:
        assert client.get("/v1/corrections").json() == {"enabled": True}
        r = client.post("/v1/corrections", json=BODY, headers=AUTH)
    assert r.status_code == 201, r.text
    (line,) = _lines(tmp_path)
    assert line["id"] == r.json()["id"]
    assert line["text"] == BODY["text"] and line["title"] == "Kyiv's terms" and line["date"] == "2026-11-30"
    assert line["correction"] == BODY["correction"]
    assert line["model"] == {"name": "stance-framing", "version": "1", "alias": "champion", "run_id": "run1",
                             "digest": None}
    assert line["codebook_version"] == "1.2.0" and line["note"] == "the minister rules out a split"
    # the fake model reads "guarantee" as security_guarantee and "yes" as favor
    assert line["answer"]["frames"]["security_guarantee"]["label"] is True
    assert line["answer"]["stance"]["territorial_concession"]["label"] == "favor"
    assert r.json()["answer"] == line["answer"]


def test_without_a_token_set_corrections_are_off(tmp_path):
    with make_client(corrections_path=tmp_path / "queue" / "c.jsonl") as client:
        assert client.get("/v1/corrections").json() == {"enabled": False}
        r = client.post("/v1/corrections", json=BODY, headers=AUTH)
    assert r.status_code == 404 and "STANCE_ANNOTATION_TOKEN" in r.json()["detail"]
    assert _lines(tmp_path) == []


def test_a_wrong_or_missing_token_is_401_and_writes_nothing(tmp_path):
    with _client(tmp_path) as client:
        for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": ANNOTATION_TOKEN}):
            r = client.post("/v1/corrections", json=BODY, headers=headers)
            assert r.status_code == 401, headers
            assert r.headers["www-authenticate"] == "Bearer"
        # the admin token is not the annotation token
        r = client.post("/v1/corrections", json=BODY, headers={"Authorization": "Bearer s3cret-token-for-tests-only"})
        assert r.status_code == 401
    assert _lines(tmp_path) == []


def test_labels_outside_the_codebook_are_422_naming_them(tmp_path):
    cases = [({"frames": {"energy_security": True}}, "energy_security"),
             ({"stance": {"eu_membership": "favor"}}, "eu_membership"),
             ({"stance": {"nato_protection": "support"}}, "support"),
             ({}, "names no frame and no stance target")]
    with _client(tmp_path) as client:
        for correction, named in cases:
            r = client.post("/v1/corrections", json={**BODY, "correction": correction}, headers=AUTH)
            assert r.status_code == 422 and named in json.dumps(r.json()["detail"]), (correction, r.text)
        r = client.post("/v1/corrections", json={**BODY, "correction": {"frames": {"escalation_risk": "maybe"}}},
                        headers=AUTH)
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "correction.frames.escalation_risk"
        r = client.post("/v1/corrections", json={**BODY, "text": "x" * 20_001}, headers=AUTH)
        assert r.status_code == 413
        r = client.post("/v1/corrections", json={**BODY, "date": "30/11/2026"}, headers=AUTH)
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "date"
    assert _lines(tmp_path) == []


def test_an_unwritable_queue_is_a_clear_error_and_keeps_what_was_written(tmp_path):
    with make_client(annotation_token=ANNOTATION_TOKEN, corrections_path=Path("/dev/full")) as client:
        r = client.post("/v1/corrections", json=BODY, headers=AUTH)
    assert r.status_code == 507
    assert "No space left on device; nothing was written" in r.json()["detail"]
    with make_client(annotation_token=ANNOTATION_TOKEN,
                     corrections_path=Path("/sys/kernel/stance-queue/c.jsonl")) as client:
        r = client.post("/v1/corrections", json=BODY, headers=AUTH)
    assert r.status_code == 503 and "cannot open the corrections queue" in r.json()["detail"]


def test_a_short_annotation_token_is_refused():
    import pytest
    from pydantic import ValidationError

    from serving.config import Settings

    with pytest.raises(ValidationError, match="STANCE_ANNOTATION_TOKEN must be at least 16 characters"):
        Settings(annotation_token="short")
