"""``/docs`` (Swagger UI) and ``/redoc``, with their scripts and styles served by this app: the pages
work on a machine with no internet (the assets come from the ``fastapi-offline`` package)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)

ASSETS_URL = "/docs-assets"
ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
          "redoc.standalone.js": "text/javascript", "favicon.png": "image/png"}
TITLE = "stance-framing API"
OUTSIDE = {"redoc.standalone.js": [(b"https://cdn.redoc.ly/redoc/logo-mini.svg", f"{ASSETS_URL}/favicon.png".encode())]}
"""Addresses outside the service inside an asset, and what they are replaced with (ReDoc's badge logo)."""


def assets_dir() -> Path:
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/openapi.json", title=TITLE,
                               swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
                               swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
                               swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
                               oauth2_redirect_url="/docs/oauth2-redirect")


@router.get("/docs/oauth2-redirect")
def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
def redoc() -> HTMLResponse:
    return get_redoc_html(openapi_url="/openapi.json", title=TITLE, redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
                          redoc_favicon_url=f"{ASSETS_URL}/favicon.png", with_google_fonts=False)


@cache
def _asset_bytes(name: str) -> bytes:
    data = (assets_dir() / name).read_bytes()
    for outside, local in OUTSIDE.get(name, []):
        data = data.replace(outside, local)
    return data


@router.get(ASSETS_URL + "/{name}")
def asset(name: str) -> Response:
    if name not in ASSETS:
        raise HTTPException(404, f"no documentation asset named {name!r}")
    return Response(_asset_bytes(name), media_type=ASSETS[name], headers={"cache-control": "public, max-age=86400"})
