"""The corrections queue: analysts' corrections of the model's labels, one JSON object a line,
appended by the service and read by ``python -m labels annotate select``.

A record holds the passage, the model's answer to it, the labels the analyst corrected (only those)
and who answered: ``{"id", "created_at", "text", "title", "date", "model", "codebook_version",
"answer", "correction", "note"}``. Files are append-only: a line is written whole or not at all.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import threading
from pathlib import Path
from typing import Any

from labels.codebook import Codebook

DEFAULT_QUEUE_DIR = Path(__file__).with_name("queue")
DEFAULT_QUEUE_FILE = DEFAULT_QUEUE_DIR / "corrections.jsonl"
FIELDS = ("id", "created_at", "text", "title", "date", "model", "codebook_version", "answer", "correction", "note")

_lock = threading.Lock()


class QueueWriteError(OSError):
    """The queue file could not be written; nothing of the record was left in it."""


class CorrectionError(ValueError):
    """A correction names a label the codebook does not have, or corrects nothing."""


def check_correction(correction: dict[str, Any], codebook: Codebook) -> dict[str, Any]:
    """The correction with its labels checked against the codebook.

    Returns ``{"frames": {id: bool}, "stance": {target: label}}`` (only what was corrected);
    raises CorrectionError naming the unknown frame, target or stance label, or when empty."""
    frames = dict(correction.get("frames") or {})
    stance = dict(correction.get("stance") or {})
    unknown = [f for f in frames if f not in codebook.frame_ids]
    if unknown:
        raise CorrectionError(f"frame(s) {unknown} not in codebook {codebook.version} ({codebook.frame_ids})")
    unknown = [t for t in stance if t not in codebook.target_ids]
    if unknown:
        raise CorrectionError(f"stance target(s) {unknown} not in codebook {codebook.version} "
                              f"({codebook.target_ids})")
    bad = {t: v for t, v in stance.items() if v not in codebook.stance_labels}
    if bad:
        raise CorrectionError(f"stance label(s) {bad} not in codebook {codebook.version} "
                              f"({list(codebook.stance_labels)})")
    if not frames and not stance:
        raise CorrectionError("the correction names no frame and no stance target")
    return {"frames": frames, "stance": stance}


def append(path: Path, record: dict[str, Any]) -> None:
    """Append ``record`` as one line of ``path`` (created with its folder if missing).

    One ``write`` of the whole line under an exclusive lock (a thread lock in this process, ``flock``
    across processes), so concurrent writers never interleave. If the write fails part-way (a full
    disk) the file is cut back to its length before, so no half line is left. Raises QueueWriteError
    naming the path and the reason (read-only folder, no space, ...)."""
    line = (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise QueueWriteError(exc.errno, f"cannot open the corrections queue {path}: {exc.strerror}") from exc
    try:
        with _lock:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                before = os.fstat(fd).st_size
                try:
                    written = os.write(fd, line)
                    if written != len(line):
                        raise OSError(errno.ENOSPC, f"only {written} of {len(line)} bytes written")
                    os.fsync(fd)
                except OSError as exc:
                    try:
                        os.ftruncate(fd, before)
                    except OSError:
                        pass
                    raise QueueWriteError(exc.errno, f"cannot write to the corrections queue {path}: "
                                                     f"{exc.strerror or exc}; nothing was written") from exc
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def read_corrections(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every correction in ``path`` (a file, or a folder of ``*.jsonl``), oldest file and line first.

    Returns ``(records, problems)``: a line that is not a JSON object with the queue's fields is
    skipped and named in ``problems`` as ``file:line: reason``. A missing path is an empty queue."""
    if not path.exists():
        return [], []
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    records: list[dict[str, Any]] = []
    problems: list[str] = []
    for file in files:
        with file.open(encoding="utf-8", errors="replace") as fh:
            for n, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw)
                except json.JSONDecodeError as exc:
                    problems.append(f"{file}:{n}: not JSON ({exc.msg})")
                    continue
                missing = [k for k in FIELDS if not isinstance(obj, dict) or k not in obj]
                if missing:
                    problems.append(f"{file}:{n}: missing field(s) {missing}")
                    continue
                records.append(obj)
    return records, problems
