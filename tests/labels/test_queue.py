"""The corrections queue: whole lines under concurrency, nothing half-written on a failed write, labels checked."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import threading
from pathlib import Path

import pytest

from labels.codebook import load_codebook
from labels.queue import CorrectionError, QueueWriteError, append, check_correction, read_corrections


def _record(i: int, text: str = "x") -> dict:
    return {"id": f"c{i}", "created_at": "2026-12-06T12:00:00+00:00", "text": text * 5000, "title": None,
            "date": None, "model": {"name": "m", "version": "1"}, "codebook_version": "1.2.0", "answer": {},
            "correction": {"frames": {}, "stance": {"nato_protection": "favor"}}, "note": None}


def _write_many(path: str, start: int, n: int) -> None:
    for i in range(start, start + n):
        append(Path(path), _record(i, text=str(i % 10)))


def test_concurrent_writers_in_threads_and_processes_never_interleave_lines(tmp_path):
    path = tmp_path / "q" / "corrections.jsonl"
    threads = [threading.Thread(target=_write_many, args=(str(path), k * 100, 50)) for k in range(4)]
    procs = [multiprocessing.get_context("spawn").Process(target=_write_many, args=(str(path), 1000 + k * 100, 50))
             for k in range(2)]
    for w in (*threads, *procs):
        w.start()
    for w in (*threads, *procs):
        w.join()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 300
    records = [json.loads(line) for line in lines]  # a torn line would not parse
    assert len({r["id"] for r in records}) == 300
    assert all(r["text"] == r["id"][-1] * 5000 for r in records)
    read, problems = read_corrections(path.parent)
    assert len(read) == 300 and problems == []


def test_a_write_that_fails_part_way_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "corrections.jsonl"
    append(path, _record(1))
    before = path.read_bytes()
    real_write = os.write

    def half_then_full(fd, data):
        real_write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(QueueWriteError, match="No space left on device; nothing was written") as info:
        append(path, _record(2))
    assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert path.read_bytes() == before
    append(path, _record(3))
    assert [r["id"] for r in read_corrections(path)[0]] == ["c1", "c3"]


def test_a_full_device_is_named():
    with pytest.raises(QueueWriteError, match="No space left on device") as info:
        append(Path("/dev/full"), _record(1))
    assert info.value.errno == errno.ENOSPC


def test_an_unwritable_folder_is_named(tmp_path):
    where = Path("/sys/kernel/stance-queue/corrections.jsonl")  # sysfs refuses new files even to root
    with pytest.raises(QueueWriteError, match="cannot open the corrections queue /sys/kernel/stance-queue"):
        append(where, _record(1))
    if os.geteuid() != 0:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
        with pytest.raises(QueueWriteError, match="Permission denied"):
            append(folder / "corrections.jsonl", _record(1))


def test_reading_names_bad_lines_and_keeps_the_rest(tmp_path):
    path = tmp_path / "corrections.jsonl"
    append(path, _record(1))
    with path.open("a", encoding="utf-8") as fh:
        fh.write("{not json\n")
        fh.write(json.dumps({"id": "c9"}) + "\n")
    records, problems = read_corrections(path)
    assert [r["id"] for r in records] == ["c1"]
    assert problems[0].endswith(":2: not JSON (Expecting property name enclosed in double quotes)")
    assert ":3: missing field(s)" in problems[1] and "'text'" in problems[1]
    assert read_corrections(tmp_path / "absent") == ([], [])


def test_corrections_are_checked_against_the_codebook():
    codebook = load_codebook()
    ok = check_correction({"frames": {"escalation_risk": True}, "stance": {"nato_protection": "against"}}, codebook)
    assert ok == {"frames": {"escalation_risk": True}, "stance": {"nato_protection": "against"}}
    with pytest.raises(CorrectionError, match=r"frame\(s\) \['energy_security'\] not in codebook"):
        check_correction({"frames": {"energy_security": True}}, codebook)
    with pytest.raises(CorrectionError, match=r"target\(s\) \['eu_membership'\]"):
        check_correction({"stance": {"eu_membership": "favor"}}, codebook)
    with pytest.raises(CorrectionError, match=r"stance label\(s\) \{'nato_protection': 'support'\}"):
        check_correction({"stance": {"nato_protection": "support"}}, codebook)
    with pytest.raises(CorrectionError, match="names no frame and no stance target"):
        check_correction({"frames": {}, "stance": {}}, codebook)
