"""Bounded work per request: the article passage cap, request deadlines, cancellation when the client
goes away, fair interleaving of short and long requests, header timeouts, the connection cap,
shared reloads, request ids on the framework's own errors, and who may read /metrics."""

from __future__ import annotations

import asyncio
import json
import socket
import tempfile
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.articles import split_article
from serving.config import Settings
from tests.serving.fakes import FakePredictor, fake_loaded
from tests.serving.live import serve

TOKEN = "s3cret-token-for-tests-only"
PARA = "The envoys met again to discuss a guarantee for the ceasefire line, officials said."  # 14 words


def _app(predictor: FakePredictor | None = None, loader=None, **settings):
    predictor = predictor or FakePredictor()
    cfg = Settings(admin_token=TOKEN, **settings)
    return create_app(cfg, loader=loader or (lambda allow_cache: fake_loaded(predictor=predictor))), predictor


def _texts(passages: list[dict]) -> list[str]:
    return [p["text"] for p in passages]


# -- splitting and the passage cap ---------------------------------------------------------------

def test_short_paragraphs_join_the_paragraph_after_them():
    text = f"KYIV, Dec 5 —\n{PARA}\n\nTalks\n{PARA}\nMore soon."
    spans = split_article(text)
    got = [text[s.start:s.end] for s in spans]
    assert got == [f"KYIV, Dec 5 —\n{PARA}", f"Talks\n{PARA}\nMore soon."]


def test_runs_of_one_word_lines_become_passages_of_at_most_100_words():
    text = "a\n" * 100_000
    spans = split_article(text)
    assert len(spans) == 1000
    assert all(len(text[s.start:s.end].split()) == 100 for s in spans)
    assert spans[0].start == 0 and spans[-1].end == len(text) - 1


def test_a_trailing_run_long_enough_stands_alone():
    text = f"{PARA}\nSix words in this short line.\nAnother six words on this one."
    got = [text[s.start:s.end] for s in split_article(text)]
    assert got == [PARA, "Six words in this short line.\nAnother six words on this one."]


def test_article_over_the_passage_cap_is_refused_before_any_work():
    app, predictor = _app(max_article_passages=10)
    with TestClient(app) as c:
        ok = c.post("/v1/articles", json={"title": "Guarantee talks", "text": "\n".join([PARA] * 9)})
        assert ok.status_code == 200 and len(ok.json()["passages"]) == 10
        calls = len(predictor.batches)
        r = c.post("/v1/articles", json={"text": "\n".join([PARA] * 11)})
        assert r.status_code == 413
        body = r.json()
        assert "11 passages" in body["detail"] and "limit is 10" in body["detail"] and body["request_id"]
        # one-word lines are joined first: 100,000 lines are 1,000 passages, still over the cap
        r = c.post("/v1/articles", json={"text": "a\n" * 100_000})
        assert r.status_code == 413 and "1000 passages" in r.json()["detail"]
        assert len(predictor.batches) == calls  # refused before the model ran


def test_the_cap_is_in_the_schema():
    app, _ = _app()
    with TestClient(app) as c:
        schema = c.get("/openapi.json").json()["components"]["schemas"]["ArticleRequest"]
        assert "STANCE_MAX_ARTICLE_PASSAGES" in schema["properties"]["text"]["description"]


# -- deadlines, cancellation, fairness ------------------------------------------------------------

def test_request_over_its_deadline_gets_504_and_its_remaining_work_is_dropped():
    predictor = FakePredictor(delay=0.2)
    app, _ = _app(predictor, request_timeout_s=0.5, max_batch_size=2, inference_workers=1)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post("/v1/articles", json={"text": "\n".join([PARA] * 40)}, headers={"X-Request-ID": "slow-1"})
        assert r.status_code == 504
        assert r.headers["retry-after"] and r.json()["request_id"] == "slow-1"
        assert "not done within 0.5 s" in r.json()["detail"]
        time.sleep(0.5)
        assert sum(predictor.batches) < 12  # 40 passages in shares of 2: most never ran
        metrics = c.get("/metrics").text
        assert 'inference_queue_passages 0.0' in metrics
        assert 'status="504"' in metrics
        # health and metrics have no deadline; the next request runs normally
        assert c.post("/v1/classify", json={"texts": [PARA]}).status_code == 200


def test_client_that_disconnects_cancels_its_work():
    predictor = FakePredictor(delay=0.2)
    app, _ = _app(predictor, max_batch_size=2, inference_workers=1)
    with serve(app) as url:
        host, port = url.removeprefix("http://").split(":")
        body = json.dumps({"text": "\n".join([PARA] * 60)}).encode()
        with socket.create_connection((host, int(port))) as s:
            s.sendall(b"POST /v1/articles HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"X-Request-ID: gone-1\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            time.sleep(0.5)
        time.sleep(1.0)
        ran = sum(predictor.batches)
        time.sleep(1.0)
        assert sum(predictor.batches) == ran < 20  # nothing more after the client left; 60 would be all
        metrics = httpx.get(url + "/metrics").text
        assert 'route="/v1/articles",status="499"' in metrics
        assert "inference_queue_passages 0.0" in metrics


def test_short_request_is_not_stuck_behind_a_long_article():
    predictor = FakePredictor(delay=0.05)
    app, _ = _app(predictor, max_batch_size=4, inference_workers=2, request_timeout_s=60)
    order: list[str] = []
    with serve(app) as url:
        def article() -> None:
            r = httpx.post(url + "/v1/articles", json={"text": "\n".join([PARA] * 120)}, timeout=60)
            assert r.status_code == 200
            order.append("article")

        t = threading.Thread(target=article)
        t.start()
        while sum(predictor.batches) < 4:  # the article is running
            time.sleep(0.01)
        assert httpx.get(url + "/healthz", timeout=5).status_code == 200
        assert httpx.get(url + "/readyz", timeout=5).status_code == 200
        r = httpx.post(url + "/v1/classify", json={"texts": ["a short one about land"]}, timeout=60)
        assert r.status_code == 200
        order.append("short")
        t.join(60)
    assert order == ["short", "article"]


# -- connections -----------------------------------------------------------------------------------

def _read_all(s: socket.socket, limit: float = 10.0) -> bytes:
    s.settimeout(limit)
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return out
        out += chunk


def test_connection_without_a_request_is_closed_after_the_header_timeout():
    app, _ = _app(header_timeout_s=0.5)
    with serve(app) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as idle, socket.create_connection((host, int(port))) as slow:
            slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # headers never finished
            started = time.monotonic()
            for s in (idle, slow):
                reply = _read_all(s)
                assert reply.startswith(b"HTTP/1.1 408") and b"not received within 0.5 s" in reply
            assert time.monotonic() - started < 5
        assert "http_header_timeouts_total 2.0" in httpx.get(url + "/metrics").text


def test_kept_alive_connection_that_starts_a_second_request_and_stalls_is_closed():
    app, _ = _app(header_timeout_s=0.5, keepalive_timeout_s=30)
    with serve(app) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            s.settimeout(5)
            assert s.recv(65536).startswith(b"HTTP/1.1 200")
            s.sendall(b"GET /healthz HTTP/1.1\r\n")
            assert _read_all(s).startswith(b"HTTP/1.1 408")


def test_connections_beyond_the_cap_are_refused_cleanly():
    app, _ = _app(max_connections=5, header_timeout_s=30)
    with serve(app) as url:
        host, port = url.removeprefix("http://").split(":")
        time.sleep(0.2)  # the startup poll's connection is closed
        idle = [socket.create_connection((host, int(port))) for _ in range(5)]
        try:
            time.sleep(0.2)
            with socket.create_connection((host, int(port))) as extra:
                extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                reply = _read_all(extra)
            head, _, body = reply.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 503") and b"retry-after: 2" in head
            assert "too many open connections (limit 5)" in json.loads(body)["detail"]
        finally:
            for s in idle:
                s.close()
        time.sleep(0.2)
        r = httpx.get(url + "/metrics")
        assert r.status_code == 200 and "http_connections_refused_total 1.0" in r.text


# -- reloads, framework errors, metrics access -----------------------------------------------------

def test_concurrent_reloads_share_one_load():
    calls: list[bool] = []

    def loader(allow_cache: bool):
        calls.append(allow_cache)
        time.sleep(0.3)
        return fake_loaded(version=str(len(calls)))

    app, _ = _app(loader=loader)

    async def storm() -> list[httpx.Response]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as ac:
                return await asyncio.gather(*(ac.post("/admin/reload", headers={"Authorization": f"bearer {TOKEN}"})
                                              for _ in range(20)))

    responses = asyncio.run(storm())
    assert [r.status_code for r in responses] == [200] * 20
    assert len(calls) == 2  # the start, then one reload shared by all twenty calls
    assert {r.json()["model"]["version"] for r in responses} == {"2"}


def test_framework_errors_carry_the_request_id():
    app, _ = _app()
    with TestClient(app) as c:
        for r in (c.get("/nowhere", headers={"X-Request-ID": "rid-404"}),
                  c.get("/v1/classify", headers={"X-Request-ID": "rid-404"}),
                  c.post("/v1/classify", content=b'{"texts": ["\xff\xfe"]}',
                         headers={"content-type": "application/json", "X-Request-ID": "rid-404"})):
            assert r.status_code in (400, 404, 405), r.text
            assert r.json()["request_id"] == "rid-404", r.text


@pytest.mark.parametrize(("host", "auth", "token", "header", "status"), [
    ("127.0.0.1", "auto", None, None, 200),
    ("0.0.0.0", "auto", TOKEN, None, 401),
    ("0.0.0.0", "auto", TOKEN, f"Bearer {TOKEN}", 200),
    ("0.0.0.0", "auto", None, None, 403),
    ("0.0.0.0", "open", None, None, 200),
    ("127.0.0.1", "token", TOKEN, "Bearer wrong-token-wrong-token", 401),
])
def test_metrics_need_the_admin_token_beyond_loopback(host, auth, token, header, status):
    cfg = Settings(host=host, metrics_auth=auth, admin_token=token)
    app = create_app(cfg, loader=lambda allow_cache: fake_loaded())
    with TestClient(app) as c:
        r = c.get("/metrics", headers={"Authorization": header} if header else {})
        assert r.status_code == status, r.text
        if status != 200:
            assert "http_requests_total" not in r.text and r.json()["request_id"]


def test_serving_a_loaded_model_leaves_no_scratch_folder(registered_store, tmp_path, monkeypatch):
    from serving.model import _load_predictor
    from tests.conftest import download_version

    model_dir = download_version(registered_store["uri"], registered_store["name"], "1", tmp_path / "copy")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    predictor = _load_predictor(model_dir)
    predictor.predict([PARA])
    assert list(scratch.iterdir()) == []  # none made, so none left if the process is killed
