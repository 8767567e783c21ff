"""The output folder: whole parts, resuming after a stop, refusing another model's results."""

from __future__ import annotations

import pytest

from scoring.output import OutputDir, OutputError


def rows(ids, digest="d1"):
    return ([{"article_id": i, "passage_index": 0, "model_digest": digest} for i in ids],
            [{"article_id": i, "model_digest": digest} for i in ids])


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_resume_knows_what_is_done_and_drops_a_half_written_chunk(tmp_path, fmt):
    out = OutputDir(tmp_path, fmt, "d1")
    out.write_part(*rows(["a", "b"]))
    out.reject([{"line": 3, "id": "c", "reason": "missing 'text'"}])
    # a stop after a chunk's passages part and before its articles part
    passages, _ = rows(["d"])
    out._write_rows(tmp_path / "passages" / f"part-00002.{fmt}", passages)
    again = OutputDir(tmp_path, fmt, "d1")
    assert again.done == {"a", "b"} and again.next_part == 2
    assert not (tmp_path / "passages" / f"part-00002.{fmt}").exists()
    again.reject([{"line": 3, "id": "c", "reason": "missing 'text'"}])  # a rerun rejects it again: written once
    assert len((tmp_path / "rejects.jsonl").read_text().splitlines()) == 1


def test_another_models_results_are_refused(tmp_path):
    OutputDir(tmp_path, "parquet", "d1").write_part(*rows(["a"]))
    with pytest.raises(OutputError, match="holds results of model digest d1"):
        OutputDir(tmp_path, "parquet", "d2")


def test_an_unwritable_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot create the output folder"):
        OutputDir(blocker / "out", "parquet", "d1")
