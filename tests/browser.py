"""Debian's chromium, driven by Playwright, for the tests that need a real browser."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic"]
SCREENSHOTS = Path(__file__).parents[1] / "var" / "screenshots"  # git-ignored


def need_browser() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is missing; scripts/setup.sh --browser installs it")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")


def only_the_service(context, base: str) -> list[str]:
    """Let ``context`` reach ``base`` only: every other request is aborted and its URL appended to the list
    returned, which a test asserts is empty."""
    refused: list[str] = []

    def route(r) -> None:
        if r.request.url.startswith(base + "/"):
            r.continue_()
        else:
            refused.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    return refused
