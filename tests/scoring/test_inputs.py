"""Reading articles: every record comes out scored or rejected with its line and reason."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scoring.inputs import Article, InputError, Rejected, count_records, input_format, read_articles


def lines(path, records):
    path.write_bytes(b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records))
    return path


def test_jsonl_rejects_each_bad_record_with_its_line_and_keeps_the_rest(tmp_path):
    path = lines(tmp_path / "a.jsonl", [
        {"id": 1, "text": "Kyiv asked for guarantees.", "published": "2024-05-01T10:00:00Z", "source": "wire"},
        b"{not json",
        {"id": "2"},
        {"id": "3", "text": 42},
        {"text": "no id here"},
        b"\xff\xfe broken bytes",
        {"id": "1", "text": "the same id again"},
        {"id": "4", "text": "x" * 101},
        {"id": "5", "text": "fine", "published": "last Tuesday"},
        {"id": "6", "text": "fine too", "title": "A title"},
        ["a", "list"],
    ])
    got = list(read_articles(path, max_chars=100))
    assert [g.line for g in got] == list(range(1, 12))
    scored = [g for g in got if isinstance(g, Article)]
    assert [(a.id, a.published, a.source, a.title) for a in scored] == [
        ("1", "2024-05-01", "wire", None), ("6", None, None, "A title")]
    reasons = {g.line: g.reason for g in got if isinstance(g, Rejected)}
    assert reasons[2].startswith("not JSON")
    assert reasons[3] == "missing 'text'"
    assert reasons[4] == "'text' must be a string, got int"
    assert reasons[5].startswith("missing 'id'")
    assert reasons[6].startswith("not UTF-8")
    assert reasons[7] == "duplicate id '1': first seen at line 1"
    assert reasons[8] == "'text' has 101 characters; the limit is 100"
    assert reasons[9].startswith("'published' is not an ISO 8601 date")
    assert reasons[11].startswith("a record must be an object")
    assert count_records(path) == 11


def test_csv_counts_lines_of_multi_line_records(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text('id,text,title\n1,"first line\nsecond line",T\n2,,\n3,plain,\n', encoding="utf-8")
    got = list(read_articles(path, max_chars=1000))
    assert isinstance(got[0], Article) and got[0].text == "first line\nsecond line" and got[0].line == 2
    assert isinstance(got[1], Rejected) and got[1].line == 4 and got[1].reason == "missing 'text'"
    assert isinstance(got[2], Article) and got[2].line == 5 and got[2].title is None


def test_parquet_rows_are_numbered_from_one(tmp_path):
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "text": ["some text", None]}), path)
    got = list(read_articles(path, max_chars=1000))
    assert isinstance(got[0], Article) and isinstance(got[1], Rejected) and got[1].line == 2
    assert count_records(path) == 2


def test_unknown_or_missing_input_is_refused(tmp_path):
    with pytest.raises(InputError, match="unknown input format"):
        input_format(tmp_path / "a.xml")
    with pytest.raises(InputError, match="no such file"):
        input_format(tmp_path / "a.jsonl")
