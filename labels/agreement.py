"""Inter-annotator agreement: per-label Cohen's kappa between the corpus and a second annotation."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from labels.codebook import Codebook
from labels.corpus import Passage

DEFAULT_SECOND = Path(__file__).parent / "second_annotation" / "second_annotator.jsonl"


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float:
    """Cohen's kappa of two equally long label sequences (1.0 when both are constant and equal)."""
    if len(a) != len(b) or not a:
        raise ValueError("kappa needs two non-empty sequences of equal length")
    n = len(a)
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb[k] for k in set(ca) | set(cb)) / (n * n)
    if expected == 1.0:
        return 1.0
    return (observed - expected) / (1 - expected)


@dataclass(frozen=True)
class AgreementRow:
    label: str
    n: int
    observed: float
    kappa: float


def read_second(path: Path, codebook: Codebook) -> dict[str, dict]:
    """Second-annotator labels by passage id; raise ``ValueError`` naming file and line on bad lines."""
    out: dict[str, dict] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{lineno}: invalid JSON: {exc.msg}") from exc
        unknown = [f for f in obj.get("frames", []) if f not in codebook.frame_ids]
        bad_stance = {t: v for t, v in obj.get("stance", {}).items()
                      if t not in codebook.target_ids or v not in codebook.stance_labels}
        if unknown or bad_stance or "id" not in obj:
            raise ValueError(f"{path}:{lineno}: bad annotation (unknown {unknown or bad_stance or 'id'})")
        out[obj["id"]] = obj
    return out


def agreement(passages: Sequence[Passage], second: dict[str, dict], codebook: Codebook) -> list[AgreementRow]:
    """Kappa per frame (present/absent) and per stance target (favor/against/neutral)."""
    by_id = {p.id: p for p in passages}
    missing = sorted(set(second) - set(by_id))
    if missing:
        raise ValueError(f"second annotation has ids not in the corpus: {missing[:5]}")
    ids = sorted(second)
    rows = []
    for f in codebook.frame_ids:
        a = [str(f in by_id[i].frames) for i in ids]
        b = [str(f in second[i].get("frames", [])) for i in ids]
        rows.append(AgreementRow(f"frame:{f}", len(ids), _observed(a, b), cohen_kappa(a, b)))
    for t in codebook.target_ids:
        a = [by_id[i].stance[t] for i in ids]
        b = [second[i]["stance"][t] for i in ids]
        rows.append(AgreementRow(f"stance:{t}", len(ids), _observed(a, b), cohen_kappa(a, b)))
    return rows


def _observed(a: Sequence[str], b: Sequence[str]) -> float:
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def to_markdown(rows: Sequence[AgreementRow]) -> str:
    lines = ["| label | passages | observed agreement | Cohen's kappa |", "|---|---:|---:|---:|"]
    lines += [f"| {r.label} | {r.n} | {r.observed:.3f} | {r.kappa:.3f} |" for r in rows]
    return "\n".join(lines) + "\n"
