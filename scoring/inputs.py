"""Reading articles from JSONL, CSV or Parquet, one at a time, with the line each came from.

Every record comes out as an ``Article`` or a ``Rejected`` with the reason; nothing is dropped.
A line is the file's line for JSONL and CSV (a CSV record spanning lines counts from its first)
and the row number for Parquet.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet"}


class InputError(ValueError):
    """The input file cannot be read at all (missing, unknown format)."""


@dataclass(frozen=True)
class Article:
    line: int
    id: str
    text: str
    title: str | None = None
    published: str | None = None  # ISO date, YYYY-MM-DD
    source: str | None = None


@dataclass(frozen=True)
class Rejected:
    line: int
    id: str | None
    reason: str


def input_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"{path}: unknown input format {path.suffix!r}; use .jsonl, .csv or .parquet")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    return fmt


def count_records(path: Path) -> int | None:
    """How many records the file holds, cheaply where the format allows (for the progress bar)."""
    fmt = input_format(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    if fmt == "jsonl":
        with path.open("rb") as f:
            return sum(1 for line in f if line.strip())
    return None


def _raw(path: Path) -> Iterator[tuple[int, Any]]:
    """(line, record or an exception describing why the line is unreadable)."""
    fmt = input_format(path)
    if fmt == "jsonl":
        with path.open("rb") as f:
            for n, raw in enumerate(f, start=1):
                if not raw.strip():
                    continue
                try:
                    yield n, json.loads(raw.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    yield n, ValueError(f"not UTF-8: {exc.reason} at byte {exc.start}")
                except json.JSONDecodeError as exc:
                    yield n, ValueError(f"not JSON: {exc.msg}")
    elif fmt == "csv":
        with path.open(encoding="utf-8", errors="strict", newline="") as f:
            reader = csv.DictReader(f)
            start = 2  # the header is line 1
            try:
                for row in reader:
                    yield start, row
                    start = reader.line_num + 1
            except UnicodeDecodeError as exc:
                yield start, ValueError(f"not UTF-8 from here on ({exc.reason}); the rest of the file is unread")
            except csv.Error as exc:
                yield start, ValueError(f"not CSV: {exc}; the rest of the file is unread")
    else:
        import pyarrow.parquet as pq

        n = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                n += 1
                yield n, row


def _date(value: Any) -> str:
    text = value.isoformat() if hasattr(value, "isoformat") else str(value).strip()
    try:
        return datetime.fromisoformat(text).date().isoformat()
    except ValueError:
        raise ValueError(f"'published' is not an ISO 8601 date: {str(value)[:40]!r}") from None


def check(line: int, record: Any, max_chars: int) -> Article | Rejected:
    """The record as an ``Article``, or why it cannot be scored."""
    if isinstance(record, Exception):
        return Rejected(line, None, str(record))
    if not isinstance(record, dict):
        return Rejected(line, None, f"a record must be an object with 'id' and 'text', got {type(record).__name__}")
    raw_id = record.get("id")
    if raw_id is None or isinstance(raw_id, (bool, float, list, dict)) or not str(raw_id).strip():
        return Rejected(line, None, "missing 'id' (a non-empty string or an integer)")
    rid = str(raw_id).strip()
    text = record.get("text")
    if text is None or (isinstance(text, str) and not text.strip()):
        return Rejected(line, rid, "missing 'text'")
    if not isinstance(text, str):
        return Rejected(line, rid, f"'text' must be a string, got {type(text).__name__}")
    if len(text) > max_chars:
        return Rejected(line, rid, f"'text' has {len(text)} characters; the limit is {max_chars}")
    optional: dict[str, str | None] = {}
    for key in ("title", "source"):
        value = record.get(key)
        if value is not None and not isinstance(value, str):
            return Rejected(line, rid, f"'{key}' must be a string, got {type(value).__name__}")
        optional[key] = value if value and value.strip() else None
    published = record.get("published")
    if published is not None and str(published).strip():
        try:
            optional["published"] = _date(published)
        except ValueError as exc:
            return Rejected(line, rid, str(exc))
    return Article(line, rid, text, optional["title"], optional.get("published"), optional["source"])


def read_articles(path: Path, max_chars: int) -> Iterator[Article | Rejected]:
    """Every record of ``path`` in order, checked; a repeated id is rejected naming the first line."""
    seen: dict[str, int] = {}
    for line, record in _raw(path):
        got = check(line, record, max_chars)
        if isinstance(got, Article):
            if got.id in seen:
                got = Rejected(line, got.id, f"duplicate id {got.id!r}: first seen at line {seen[got.id]}")
            else:
                seen[got.id] = line
        yield got
