"""The API reference: every field described, and /docs and /redoc rendering in a real browser with every\nrequest beyond the service refused."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.config import Settings
from tests.browser import CHROMIUM, FLAGS, SCREENSHOTS, need_browser, only_the_service
from tests.serving.fakes import fake_loaded
from tests.serving.live import serve


def _app():
    return create_app(Settings(), loader=lambda allow_cache: fake_loaded())


def test_doc_pages_load_their_assets_from_the_service():
    with TestClient(_app()) as client:
        for page in ("/docs", "/redoc"):
            html = client.get(page).text
            assert "http://" not in html and "https://" not in html, page
        assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
        assert client.get("/docs-assets/redoc.standalone.js").headers["content-type"].startswith("text/javascript")
        assert client.get("/docs-assets/..%2Fcore.py").status_code == 404
        assert client.get("/docs-assets/core.py").status_code == 404
        assert "/docs-assets/{name}" not in client.get("/openapi.json").json()["paths"]


def test_every_field_of_the_api_is_described():
    schemas = _app().openapi()["components"]["schemas"]
    bare = [f"{name}.{prop}" for name, schema in schemas.items() for prop, field in schema.get("properties", {}).items()
            if not field.get("description")]
    assert bare == []


def test_every_route_shows_a_real_example_that_fits_its_schema():
    from serving import schemas
    from serving.examples import all_examples

    spec = _app().openapi()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            content = next(r for code, r in op["responses"].items() if code.startswith("2"))["content"]
            assert any(c.get("example") is not None for c in content.values()), (method, path)
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                ref = body.get("schema", {}).get("$ref", "")
                named = spec["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
                assert body.get("example") or named.get("examples"), (method, path)
    examples = all_examples()
    schemas.ClassifyRequest.model_validate(examples["classify"]["request"])
    schemas.ClassifyResponse.model_validate(examples["classify"]["response"])
    schemas.ArticleRequest.model_validate(examples["articles"]["request"])
    schemas.ArticleResponse.model_validate(examples["articles"]["response"])
    schemas.ModelInfo.model_validate(examples["model"]["response"])
    schemas.InvocationsResponse.model_validate(examples["invocations"]["response"])
    schemas.CorrectionRequest.model_validate(examples["corrections"]["request"])
    schemas.CorrectionResponse.model_validate(examples["corrections"]["response"])
    article = examples["articles"]["request"]
    for p in examples["articles"]["response"]["passages"]:
        source = article["title"] if p["source"] == "title" else article["text"]
        assert source[p["start"]:p["end"]] == p["text"]


@pytest.mark.slow
def test_docs_render_the_routes_with_the_network_off():
    need_browser()
    from playwright.sync_api import sync_playwright

    with serve(_app()) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})

            refused = only_the_service(context, base)
            page = context.new_page()
            page.goto(base + "/docs")
            page.locator(".opblock-summary-path", has_text="/v1/articles").first.wait_for(timeout=30_000)
            paths = page.locator(".opblock-summary-path").all_inner_texts()
            for route in ("/v1/classify", "/v1/articles", "/v1/model", "/invocations", "/healthz"):
                assert any(route == p.strip() for p in paths), (route, paths)
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "docs.png"))
            page.goto(base + "/redoc")
            page.get_by_text("/v1/articles").first.wait_for(timeout=30_000)
            assert "stance-framing" in page.inner_text("body")
        finally:
            browser.close()
    assert refused == []
