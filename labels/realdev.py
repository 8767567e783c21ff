"""The real-news evaluation set (``realdev``): passages rewritten from real reports, with gold labels.

It lives outside the repository (``../shared/realdev/passages.jsonl`` beside the checkout, or the
path in ``STANCE_REALDEV``) and is for measurement only: nothing here feeds training. Each line
holds ``id``, ``text``, ``frames`` and ``stance`` in the codebook's ids (``source_url`` and
``note`` are kept but unused).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from labels.codebook import Codebook

REPO_ROOT = Path(__file__).resolve().parents[1]
ENV_VAR = "STANCE_REALDEV"


class RealdevError(ValueError):
    """The real-news evaluation file is missing or malformed; the message names file and line."""


@dataclass(frozen=True)
class Realdev:
    """The evaluation passages as flat records (``id``, ``text``, ``frames``, ``stance``) and a digest."""

    path: Path
    records: list[dict]
    digest: str

    def __len__(self) -> int:
        return len(self.records)


def default_path() -> Path:
    """``STANCE_REALDEV`` if set, else ``shared/realdev/passages.jsonl`` next to the repository."""
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else REPO_ROOT.parent / "shared" / "realdev" / "passages.jsonl"


def load_realdev(path: str | Path, codebook: Codebook) -> Realdev:
    """Read and check every line against the codebook; raise ``RealdevError`` listing all problems."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise RealdevError(f"{p}: cannot read the real-news evaluation set: {exc.strerror or exc}") from None
    records: list[dict] = []
    problems: list[str] = []
    for lineno, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{p}:{lineno}: invalid JSON: {exc.msg}")
            continue
        if not isinstance(obj, dict) or not all(k in obj for k in ("id", "text", "frames", "stance")):
            problems.append(f"{p}:{lineno}: needs 'id', 'text', 'frames' and 'stance'")
            continue
        bad = [f for f in obj["frames"] if f not in codebook.frame_ids]
        bad += [f"{t}={obj['stance'].get(t)!r}" for t in codebook.target_ids
                if obj["stance"].get(t) not in codebook.stance_labels]
        if bad or not isinstance(obj["text"], str) or not obj["text"].strip():
            problems.append(f"{p}:{lineno}: labels not in codebook {codebook.version} or empty text: {bad}")
            continue
        records.append({"id": str(obj["id"]), "text": obj["text"], "frames": list(obj["frames"]),
                        "stance": {t: obj["stance"][t] for t in codebook.target_ids}})
    if problems:
        raise RealdevError(f"{len(problems)} problem(s) in the real-news evaluation set:\n" + "\n".join(problems[:20]))
    if not records:
        raise RealdevError(f"{p}: no passages")
    return Realdev(p, records, hashlib.sha256(raw).hexdigest())
