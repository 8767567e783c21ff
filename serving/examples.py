"""Real answers shown in the API reference (/docs, /redoc): ``examples.json``, written by
``scripts/api_examples.py`` from a served model (its name, version and run id are in each answer)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any


@cache
def all_examples() -> dict[str, Any]:
    """Every route's example, by route name."""
    return json.loads(Path(__file__).with_name("examples.json").read_text(encoding="utf-8"))


def request(route: str) -> Any:
    """The example request body of ``route``."""
    return all_examples()[route]["request"]


def ok(route: str, media_type: str = "application/json", status: int = 200) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` entry documenting ``route``'s success answer (``status``) with its example."""
    return {status: {"content": {media_type: {"example": all_examples()[route]["response"]}}}}
