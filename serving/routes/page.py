"""``/``: the analyst's page (paste an article, read its framing, correct labels), served from ``serving/page/``
with its script and style: no build step, nothing fetched from outside the service."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)

PAGE_DIR = Path(__file__).parents[1] / "page"
ASSETS = {"app.js": "text/javascript", "app.css": "text/css"}
# the page names no origin outside the service, and runs only its own script
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


@cache
def _read(name: str) -> bytes:
    return (PAGE_DIR / name).read_bytes()


@router.get("/")
def page() -> HTMLResponse:
    return HTMLResponse(_read("index.html"), headers={"content-security-policy": CSP, "cache-control": "no-cache"})


@router.get("/page/{name}")
def asset(name: str) -> Response:
    if name not in ASSETS:
        raise HTTPException(404, f"no page asset named {name!r}")
    return Response(_read(name), media_type=ASSETS[name], headers={"cache-control": "no-cache"})
