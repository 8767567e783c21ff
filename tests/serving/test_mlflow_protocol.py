"""``POST /invocations``, the MLflow scoring protocol: its four input formats, params and bad input."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("body", [
    {"dataframe_split": {"columns": ["text"], "data": [["a missile"], ["land"]]}},
    {"dataframe_records": [{"text": "a missile"}, {"text": "land"}]},
    {"inputs": ["a missile", "land"]},
    {"inputs": {"text": ["a missile", "land"]}},
    {"instances": [{"text": "a missile"}, {"text": "land"}]},
    {"instances": ["a missile", "land"]},
])
def test_invocations_formats(client, body):
    r = client.post("/invocations", json=body)
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert len(preds) == 2
    assert preds[0]["frame.escalation_risk.label"] is True
    assert preds[1]["frame.territorial_compromise.label"] is True
    assert preds[0]["stance.nato_protection.label"] in {"favor", "against", "neutral"}


def test_invocations_params_targets(client):
    r = client.post("/invocations", json={"inputs": ["x"], "params": {"targets": "nato_protection"}})
    assert r.status_code == 200
    assert not any(k.startswith("stance.territorial_concession") for k in r.json()["predictions"][0])


@pytest.mark.parametrize("body", [
    {}, {"inputs": [], "instances": []}, {"dataframe_split": {"columns": ["body"], "data": [["x"]]}},
    {"dataframe_records": [{"body": "x"}]}, {"inputs": 5}, {"inputs": ["x"], "params": []},
    {"dataframe_split": {"columns": ["text"], "data": [["x", "y"]]}}, {"inputs": [None]},
    {"inputs": ["x"], "params": {"targets": "eu"}}, {"inputs": ["x"] * 65},
])
def test_invocations_bad_input(client, body):
    r = client.post("/invocations", json=body)
    assert 400 <= r.status_code < 500, r.text


def test_invocations_deep_nesting(client):
    deep = b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    r = client.post("/invocations", content=deep, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500


@pytest.mark.parametrize("body, needle", [
    ({"inputs": ["a passage"], "params": {"targets": 5}}, "params.targets"),
    ({"inputs": ["a passage"], "params": {"targets": True}}, "params.targets"),
    ({"inputs": ["a passage"], "params": {"targets": {"nato_protection": 1}}}, "params.targets"),
    ({"inputs": ["a passage"], "params": {"targets": [1, 2]}}, "params.targets"),
])
def test_invocations_params_of_the_wrong_type_are_a_400_naming_them(client, body, needle):
    r = client.post("/invocations", json=body)
    assert r.status_code == 400 and needle in r.json()["detail"] and r.json()["request_id"]


def test_invocations_with_a_5000_digit_number_is_a_400(client):
    r = client.post("/invocations", content='{"inputs": [' + "9" * 5000 + "]}",
                    headers={"content-type": "application/json"})
    assert r.status_code == 400 and "cannot be read" in r.json()["detail"]
