"""The analyst's page at /: served with its own assets, and driven in Debian's chromium with every request beyond
the service refused: paste an article, read the highlights and stances the API gave, see errors as messages,
send a correction with the token."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.config import Settings
from tests.browser import CHROMIUM, FLAGS, SCREENSHOTS, need_browser, only_the_service
from tests.serving.fakes import fake_loaded
from tests.serving.live import serve

ANNOTATION_TOKEN = "annotator-token-0123456789"
TITLE = "Allies weigh a guarantee for Kyiv"
TEXT = ("Ministers met in Brussels on Tuesday to discuss a guarantee for Ukraine, yes, one with treaty force.\n"
        "Officials said no land would be traded for it, and that the missile shield would stay.\n"
        "The meeting ended early because of the weather, and the ministers flew home that evening.")


def _app(tmp_path: Path, loader=None, **settings):
    cfg = Settings(annotation_token=ANNOTATION_TOKEN, corrections_path=tmp_path / "corrections.jsonl", **settings)
    return create_app(cfg, loader=loader or (lambda allow_cache: fake_loaded()))


def test_the_page_and_its_assets_come_from_the_service(tmp_path):
    with TestClient(_app(tmp_path)) as client:
        r = client.get("/")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in r.headers["content-security-policy"]
        for asset, kind in (("app.js", "text/javascript"), ("app.css", "text/css")):
            a = client.get(f"/page/{asset}")
            assert a.status_code == 200 and a.headers["content-type"].startswith(kind)
            assert "http://" not in a.text and "https://" not in a.text, asset
        assert "http://" not in r.text and "https://" not in r.text
        assert client.get("/page/..%2Fapp.py").status_code == 404
        assert client.get("/page/index.html").status_code == 404
        assert "/" not in client.get("/openapi.json").json()["paths"]


def _shown(page) -> dict:
    """What the page shows: per passage, the frames badged and each target's stance label; per target the
    article's stance."""
    passages = page.eval_on_selector_all("#passages li.passage", """items => items.map(li => ({
        index: Number(li.dataset.index),
        frames: [...li.querySelectorAll('.badge[data-frame]')].map(b => b.dataset.frame).sort(),
        stance: Object.fromEntries([...li.querySelectorAll('[data-target]')].map(s => [s.dataset.target,
                                                                                    s.dataset.label])),
        marks: [...li.querySelectorAll('mark')].map(m => m.textContent)}))""")
    article = page.eval_on_selector_all("#summary [data-target]", """cards => Object.fromEntries(cards.map(
        c => [c.dataset.target, c.querySelector('.article-stance').textContent]))""")
    return {"passages": passages, "article": article}


def _expected(answer: dict) -> dict:
    passages = [{"index": p["index"], "frames": sorted(f for f, r in p["frames"].items() if r["label"]),
                 "stance": {t: s["label"] for t, s in p["stance"].items()}} for p in answer["passages"]]
    return {"passages": passages, "article": {t: s["label"] for t, s in answer["summary"]["stance"].items()}}


@pytest.mark.slow
def test_an_analyst_reads_an_article_and_corrects_a_label(tmp_path):
    need_browser()
    from playwright.sync_api import sync_playwright


    reachable = threading.Event()

    def flaky_loader(allow_cache):
        if not reachable.is_set():  # the page opens before the model is ready
            raise RuntimeError("registry unreachable")
        return fake_loaded()

    app = _app(tmp_path, loader=flaky_loader, max_article_chars=1000)
    with serve(app) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            context = browser.new_context(viewport={"width": 1300, "height": 1400}, accept_downloads=True)

            refused = only_the_service(context, base)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(base + "/")
            page.get_by_text("Retrying in").wait_for(timeout=10_000)
            assert "registry unreachable" in page.inner_text("#status")
            reachable.set()
            page.get_by_text("Ready. Paste an article").wait_for(timeout=30_000)
            assert "stance-framing version 1" in page.inner_text("#model")

            # an empty article is a message on the page, and nothing is sent
            page.get_by_role("button", name="Label article").click()
            assert "Paste an article's text" in page.inner_text("#error")

            # a dropped or opened file: a Markdown heading becomes the title; anything but text is refused
            page.set_input_files("#file", files=[{"name": "brief.md", "mimeType": "text/markdown",
                                                  "buffer": f"# {TITLE}\r\n\r\n{TEXT}\r\n".encode()}])
            page.get_by_text("Read brief.md").wait_for(timeout=10_000)
            assert page.input_value("#title") == TITLE and page.input_value("#text") == TEXT
            page.set_input_files("#file", files=[{"name": "photo.png", "mimeType": "image/png",
                                                  "buffer": b"\x89PNG\r\n"}])
            page.get_by_text("photo.png is not a .txt or .md file").wait_for(timeout=10_000)
            page.fill("#title", TITLE)
            page.fill("#text", TEXT)
            page.focus("#text")
            page.keyboard.press("Control+Enter")
            page.locator("#passages li.passage").first.wait_for(timeout=30_000)
            answer = httpx.post(base + "/v1/articles", json={"title": TITLE, "text": TEXT}, timeout=30).json()
            shown = _shown(page)
            assert [{k: v for k, v in p.items() if k != "marks"} for p in shown["passages"]] == \
                _expected(answer)["passages"]
            assert shown["article"] == _expected(answer)["article"]
            assert any("guarantee" in m for p in shown["passages"] for m in p["marks"])
            assert page.locator("#frames-card tr[data-frame=security_guarantee] .share").inner_text() == \
                f"{round(answer['summary']['frames']['security_guarantee']['share'] * 100)}%"
            assert "Answered by stance-framing version 1 (@champion), run run1" in page.inner_text("#answered-by")
            with page.expect_download() as download:
                page.get_by_role("button", name="Download JSON").click()
            saved = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
            assert saved["passages"] == answer["passages"] and saved["model"] == answer["model"]
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "page.png"), full_page=True)

            # a correction: the stance of passage 1 on territorial_concession, with the token asked once
            page.get_by_role("button", name="Correct passage 1").click()
            page.select_option("#cs-territorial_concession", "against")
            page.fill("#correct-note", "rules out trading land")
            page.get_by_role("button", name="Send correction").click()
            page.fill("#token", "wrong-token-0123456789")
            page.get_by_role("button", name="Use token").click()
            page.get_by_text("The token was refused").wait_for(timeout=10_000)
            assert not (tmp_path / "corrections.jsonl").exists()
            page.get_by_role("button", name="Send correction").click()
            page.fill("#token", ANNOTATION_TOKEN)
            page.get_by_role("button", name="Use token").click()
            page.get_by_text("Correction saved").wait_for(timeout=10_000)
            (line,) = (tmp_path / "corrections.jsonl").read_text(encoding="utf-8").splitlines()
            record = json.loads(line)
            assert record["text"] == answer["passages"][1]["text"] and record["title"] == TITLE
            assert record["correction"] == {"frames": {}, "stance": {"territorial_concession": "against"}}
            assert record["answer"]["stance"]["territorial_concession"]["label"] == "favor"
            assert record["note"] == "rules out trading land"
            # the token is kept for the tab: a second correction is sent without asking
            page.get_by_role("button", name="Correct passage 3").click()
            page.check("#cf-escalation_risk")
            page.get_by_role("button", name="Send correction").click()
            page.locator("#passage-3 .saved").wait_for(timeout=10_000)
            assert len((tmp_path / "corrections.jsonl").read_text(encoding="utf-8").splitlines()) == 2

            # an article over the service's limit: the service's reason, on the page
            page.fill("#text", "Ministers met again. " * 60)
            page.get_by_role("button", name="Label article").click()
            page.locator("#error:not([hidden])").wait_for(timeout=10_000)
            message = page.inner_text("#error")
            assert message.startswith("The article is too long for the service:") and "1000" in message, message
            page.screenshot(path=str(SCREENSHOTS / "page-error.png"))
            assert errors == []
        finally:
            browser.close()
    assert refused == []
