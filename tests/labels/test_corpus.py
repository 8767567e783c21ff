"""The validator reports each kind of problem with file and line, and the CLI exits non-zero."""

import json
from datetime import date, timedelta

import pytest

from labels.__main__ import main as labels_main
from labels.corpus import read_corpus
from tests.conftest import write_jsonl


def _problems(tmp_path, codebook, rows):
    write_jsonl(tmp_path / "data" / "a.jsonl", rows)
    _, problems = read_corpus(tmp_path / "data", codebook)
    return problems


def _ok(tiny_rows, i=0, **changes):
    row = dict(tiny_rows[i])
    row.update(changes)
    return row


def test_fixture_corpus_is_clean(tiny_corpus_dir, codebook):
    passages, problems = read_corpus(tiny_corpus_dir, codebook)
    assert problems == []
    assert len(passages) >= 60


@pytest.mark.parametrize("kind, change", [
    ("unknown-label", {"frames": ["security_guarantee", "energy_coercion"]}),
    ("unknown-label", {"stance": {"nato_protection": "support", "territorial_concession": "neutral"}}),
    ("unknown-label", {"stance": {"nato_protection": "favor", "territorial_concession": "neutral", "eu": "favor"}}),
    ("missing-field", {"stance": {"nato_protection": "favor"}}),
    ("wrong-type", {"text": 42}),
    ("wrong-type", {"frames": "security_guarantee"}),
    ("unknown-kind", {"kind": "blog"}),
    ("bad-date", {"date": "2022-13-40"}),
    ("bad-date", {"date": "2031-01-01"}),
    ("length", {"text": "Too short to be a passage."}),
    ("duplicate-label", {"frames": ["escalation_risk", "escalation_risk"]}),
    ("bad-id", {"id": "other-article-01"}),
])
def test_each_record_problem_is_reported_with_file_and_line(tmp_path, codebook, tiny_rows, kind, change):
    rows = [tiny_rows[0], _ok(tiny_rows, 1, **change)]
    problems = _problems(tmp_path, codebook, rows)
    assert [p.kind for p in problems] == [kind]
    assert problems[0].line == 2 and problems[0].file.endswith("a.jsonl")
    assert str(problems[0]).startswith(f"{problems[0].file}:2: [{kind}]")


def test_dates_run_up_to_today(tmp_path, codebook, tiny_rows):
    today, tomorrow = date.today(), date.today() + timedelta(days=1)
    assert _problems(tmp_path, codebook, [_ok(tiny_rows, 0, date=today.isoformat())]) == []
    problems = _problems(tmp_path, codebook, [_ok(tiny_rows, 0, date=tomorrow.isoformat())])
    assert [p.kind for p in problems] == ["bad-date"] and "(today)" in problems[0].message


def test_bad_json_missing_field_and_encoding(tmp_path, codebook, tiny_rows):
    row = dict(tiny_rows[1])
    del row["notes"]
    path = tmp_path / "data" / "a.jsonl"
    path.parent.mkdir()
    path.write_bytes(json.dumps(tiny_rows[0]).encode() + b"\n{not json\n" + json.dumps(row).encode()
                     + b"\n\xff\xfe broken\n")
    _, problems = read_corpus(tmp_path / "data", codebook)
    assert [(p.kind, p.line) for p in problems] == [("bad-json", 2), ("missing-field", 3), ("bad-encoding", 4)]
    assert "notes" in problems[1].message


def test_duplicate_ids_and_near_duplicates(tmp_path, codebook, tiny_rows):
    dup = dict(tiny_rows[1])
    near = _ok(tiny_rows, 2, id="x9-a001-01", article_id="x9-a001")
    near["text"] = "Officials added that " + tiny_rows[3]["text"]
    assert near["article_id"] != tiny_rows[3]["article_id"]
    problems = _problems(tmp_path, codebook, [tiny_rows[1], dup, near, tiny_rows[3]])
    kinds = sorted(p.kind for p in problems)
    assert "duplicate-id" in kinds and "near-duplicate" in kinds


def test_minimal_pairs_inside_one_article_are_allowed(tmp_path, codebook, tiny_rows):
    base = tiny_rows[3]
    flipped = _ok(tiny_rows, 3, id=base["article_id"] + "-99", text="Officials added that " + base["text"])
    assert _problems(tmp_path, codebook, [base, flipped]) == []


def test_short_passages_are_valid_down_to_eight_words(tmp_path, codebook, tiny_rows):
    eight = _ok(tiny_rows, 0, kind="liveblog", text="14:05 GMT Sirens sound again across the capital.")
    seven = _ok(tiny_rows, 1, kind="caption", text="A resident walks past a damaged school.")
    problems = _problems(tmp_path, codebook, [eight, seven])
    assert [(p.kind, p.line) for p in problems] == [("length", 2)]


def test_quotations_do_not_count_as_near_duplicates(tmp_path, codebook, tiny_rows):
    quote = '"we will never accept any deal that gives away a single village of our country," '
    a = _ok(tiny_rows, 1, text=tiny_rows[1]["text"] + " " + quote + "she said.")
    b = _ok(tiny_rows, 2, text=tiny_rows[2]["text"] + " He repeated " + quote + "at the rally.")
    assert _problems(tmp_path, codebook, [a, b]) == []


def test_article_spread_over_two_files(tmp_path, codebook, tiny_rows):
    write_jsonl(tmp_path / "data" / "a.jsonl", [tiny_rows[0]])
    write_jsonl(tmp_path / "data" / "b.jsonl", [tiny_rows[1]])  # same article as row 0
    assert tiny_rows[0]["article_id"] == tiny_rows[1]["article_id"]
    _, problems = read_corpus(tmp_path / "data", codebook)
    assert [p.kind for p in problems] == ["article-split"]


def test_codebook_removing_a_label_still_used_fails(tmp_path, tiny_corpus_dir):
    from labels.codebook import DEFAULT_CODEBOOK, parse_codebook

    text = DEFAULT_CODEBOOK.read_text()
    start = text.index("  - id: escalation_risk")
    end = text.index("stance:\n")
    reduced = parse_codebook(text[:start] + text[end:], "reduced.yaml")
    _, problems = read_corpus(tiny_corpus_dir, reduced)
    assert problems and all(p.kind == "unknown-label" for p in problems)
    assert "escalation_risk" in problems[0].message


def test_cli_validate_exit_codes(tmp_path, tiny_corpus_dir, tiny_rows, capsys):
    assert labels_main(["--data-dir", str(tiny_corpus_dir), "validate"]) == 0
    out = capsys.readouterr().out
    assert "corpus OK" in out and "digest" in out
    write_jsonl(tmp_path / "data" / "a.jsonl", [tiny_rows[0], "{oops"])
    assert labels_main(["--data-dir", str(tmp_path / "data"), "validate"]) == 1
    err = capsys.readouterr().err
    assert "a.jsonl:2: [bad-json]" in err
    assert labels_main(["--data-dir", str(tmp_path / "empty"), "validate"]) == 1
    # --strict also fails on balance, which the tiny corpus does not meet
    assert labels_main(["--data-dir", str(tiny_corpus_dir), "validate", "--strict"]) == 1


def test_a_lightly_reworded_passage_of_another_article_is_a_near_duplicate(tmp_path, codebook, tiny_rows):
    base = tiny_rows[3]
    words = base["text"].split()
    # a function word after every fourth word: no 12-word run survives, the content words do
    reworded = " ".join(w + (" so" if i % 4 == 3 else "") for i, w in enumerate(words))
    other = _ok(tiny_rows, 3, id="x9-a001-01", article_id="x9-a001", text=reworded)
    problems = _problems(tmp_path, codebook, [base, other])
    assert [p.kind for p in problems] == ["near-duplicate"] and "content words" in problems[0].message
