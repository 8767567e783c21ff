"""Every check of client input, in one place: texts, targets, articles and MLflow-protocol bodies.

A failed check raises ``InputError`` with a message naming the field and the rule; the app
answers it with its ``status`` (422 by default, 413 for size limits, 400 for unreadable bodies)
and the request id.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from serving.config import Settings


class InputError(ValueError):
    """Client input breaks a rule; ``status`` is 413 for size limits, 400 for unreadable bodies, 422 otherwise."""

    def __init__(self, message: str, status: int = 422, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


def check_unicode(text: str, field: str) -> None:
    """JSON may carry lone UTF-16 surrogates (``"\\ud800"``), which are not text: refuse them by name."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(f"'{field}' holds an unpaired surrogate (\\u{ord(text[exc.start]):04x}) at "
                         f"character {exc.start}; send valid Unicode", field=field) from None


def check_texts(texts: Sequence[Any], max_texts: int, max_chars: int, field: str = "texts") -> list[str]:
    """Passages to label: at least one, at most ``max_texts``, each a non-blank string within ``max_chars``."""
    if len(texts) == 0:
        raise InputError(f"'{field}' must hold at least one text", field=field)
    if len(texts) > max_texts:
        raise InputError(f"'{field}' has {len(texts)} texts; the limit is {max_texts} per request",
                         status=413, field=field)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise InputError(f"'{field}[{i}]' must be a string, got {type(t).__name__}", field=field)
        if not t.strip():
            raise InputError(f"'{field}[{i}]' is empty or whitespace only", field=field)
        if len(t) > max_chars:
            raise InputError(f"'{field}[{i}]' has {len(t)} characters; the limit is {max_chars}",
                             status=413, field=field)
        check_unicode(t, f"{field}[{i}]")
    return list(texts)


def check_targets(known: Sequence[str], targets: Sequence[Any] | None) -> list[str] | None:
    """Requested stance targets, each one the codebook knows, duplicates dropped; ``None``: all."""
    if targets is None:
        return None
    bad = [t for t in targets if t not in known]
    if bad:
        raise InputError(f"unknown target(s) {bad}; known targets: {list(known)}", field="targets")
    return list(dict.fromkeys(targets))


def check_article(title: str | None, text: str, settings: Settings) -> None:
    """An article's text (not blank, within ``max_article_chars``) and title (within ``max_text_chars``).
    The passage cap is checked once the article is split (``Service.article``)."""
    if not text.strip():
        raise InputError("'text' is empty or whitespace only", field="text")
    if len(text) > settings.max_article_chars:
        raise InputError(f"'text' has {len(text)} characters; the limit is {settings.max_article_chars}", 413)
    if title is not None and len(title) > settings.max_text_chars:
        raise InputError(f"'title' has {len(title)} characters; the limit is {settings.max_text_chars}", 413)
    check_unicode(text, "text")
    if title is not None:
        check_unicode(title, "title")


def read_json(raw: bytes) -> Any:
    """A request body parsed as JSON; every way it can fail is a 400 naming the problem."""
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise InputError("body is not valid UTF-8", 400) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"body is not valid JSON: {exc.msg} at position {exc.pos}", 400) from None
    except ValueError as exc:  # e.g. an integer of thousands of digits
        raise InputError(f"body holds a value that cannot be read: {str(exc)[:200]}", 400) from None
    except RecursionError:
        raise InputError("body JSON is nested too deeply", 400) from None


def targets_param(params: dict[str, Any]) -> list[str] | None:
    """``params.targets`` of an MLflow request (a comma-separated string or a list) as a list; ``None``: all."""
    raw = params.get("targets")
    if raw in (None, "", []):
        return None
    return raw.split(",") if isinstance(raw, str) else raw


def _bad(message: str) -> InputError:
    return InputError(message, 400)


def parse_invocation(body: Any) -> tuple[list[Any], dict[str, Any]]:
    """Texts and params from ``dataframe_split``, ``dataframe_records``, ``inputs`` or ``instances``."""
    if not isinstance(body, dict):
        raise _bad("body must be a JSON object with one of dataframe_split, dataframe_records, "
                              "inputs or instances")
    keys = [k for k in ("dataframe_split", "dataframe_records", "inputs", "instances") if k in body]
    if len(keys) != 1:
        raise _bad("body must have exactly one of dataframe_split, dataframe_records, inputs, instances")
    extra = set(body) - {keys[0], "params"}
    if extra:
        raise _bad(f"unexpected field(s) {sorted(extra)}")
    params = body.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise _bad("params must be an object")
    targets = params.get("targets")
    if targets is not None and not isinstance(targets, str) and not (
            isinstance(targets, list) and all(isinstance(t, str) for t in targets)):
        raise _bad(f"params.targets must be a comma-separated string or a list of strings, "
                              f"got {type(targets).__name__}")
    data = body[keys[0]]
    if keys[0] == "dataframe_split":
        if not isinstance(data, dict) or not isinstance(data.get("columns"), list) or not isinstance(data.get("data"), list):
            raise _bad("dataframe_split needs 'columns' (list) and 'data' (list of rows)")
        if "text" not in data["columns"]:
            raise _bad(f"dataframe_split needs a 'text' column, got {data['columns']}")
        col = data["columns"].index("text")
        texts = []
        for i, row in enumerate(data["data"]):
            if not isinstance(row, list) or len(row) != len(data["columns"]):
                raise _bad(f"dataframe_split.data[{i}] must be a list of {len(data['columns'])} values")
            texts.append(row[col])
        return texts, params
    if keys[0] == "dataframe_records":
        if not isinstance(data, list) or not all(isinstance(r, dict) and "text" in r for r in data):
            raise _bad("dataframe_records must be a list of objects with a 'text' field")
        return [r["text"] for r in data], params
    # inputs / instances: a list of strings, a list of {"text": ...}, or {"text": [...]}
    if isinstance(data, dict):
        if not isinstance(data.get("text"), list):
            raise _bad(f"{keys[0]} as an object needs a 'text' list")
        return list(data["text"]), params
    if isinstance(data, list):
        if all(isinstance(x, dict) for x in data):
            if not all("text" in x for x in data):
                raise _bad(f"every {keys[0]} item needs a 'text' field")
            return [x["text"] for x in data], params
        return list(data), params
    if isinstance(data, str):
        return [data], params
    raise _bad(f"{keys[0]} must be a list or an object with a 'text' list")
