"""Choosing the passages to annotate next: analysts' corrections first, then the passages the model is
least sure of, never two near-duplicates in one batch.

The model is passed in as a ``predict(texts) -> results`` function (the model runtime's answer per
passage), so this module needs neither MLflow nor the service.

Uncertainty of one answer, in [0, 1]: the mean, over every stance target and every frame, of
``1 - margin`` for a target (margin: its top stance score minus the second) and of the binary
entropy in bits of a frame's score. Each label counts once, so a passage ranks high when many labels
are close calls, and a single coin-flip label still lifts it above a passage the model is sure of.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labels.codebook import Codebook
from labels.corpus import MAX_WORDS, MIN_WORDS, Passage, content_words, repeats

SHINGLE = 3  # content words per shingle
MAX_OVERLAP = 0.5  # share of the smaller passage's shingles another chosen passage may share
PREDICT_CHUNK = 256

Predict = Callable[[list[str]], list[dict[str, Any]]]


@dataclass
class Candidate:
    """A passage that could be annotated, with the model's answer and what it is pre-annotated with."""

    passage_id: str
    text: str
    origin: dict[str, Any]
    date: str | None
    answer: dict[str, Any]
    model: dict[str, Any]
    pre_annotation: dict[str, Any]
    correction: dict[str, Any] | None = None
    score: float = 0.0
    reason: str = ""
    shingles: frozenset[str] = field(default_factory=frozenset, repr=False)

    def row(self, codebook: Codebook) -> dict[str, Any]:
        """The batch file's line for this passage."""
        return {"passage_id": self.passage_id, "text": self.text, "origin": self.origin, "date": self.date,
                "answer": self.answer, "pre_annotation": self.pre_annotation, "model": self.model,
                "score": round(self.score, 4), "reason": self.reason, "codebook_version": codebook.version}


def passage_id(text: str) -> str:
    """A stable id for a passage: the same text (up to white space) always gets the same id."""
    return "p" + hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()[:15]


def _entropy(p: float) -> float:
    p = min(max(p, 0.0), 1.0)
    return 0.0 if p in (0.0, 1.0) else -(p * math.log2(p) + (1 - p) * math.log2(1 - p))


def uncertainty(answer: dict[str, Any]) -> tuple[float, str]:
    """The answer's uncertainty (see the module docstring) and a reason naming its two closest calls.

    Raises ``ValueError`` when the answer has neither frames nor stance targets."""
    parts: list[tuple[float, str]] = []
    for t, v in answer.get("stance", {}).items():
        top = sorted(v["scores"].values(), reverse=True) + [0.0, 0.0]
        parts.append((1.0 - (top[0] - top[1]), f"stance {t} margin {top[0] - top[1]:.2f}"))
    for f, v in answer.get("frames", {}).items():
        parts.append((_entropy(float(v["score"])), f"frame {f} p={float(v['score']):.2f}"))
    if not parts:
        raise ValueError("the answer has no frame and no stance scores")
    score = sum(u for u, _ in parts) / len(parts)
    closest = [why for _, why in sorted(parts, key=lambda x: -x[0])[:2]]
    return score, f"uncertainty {score:.2f}: " + ", ".join(closest)


def shingles(text: str, size: int = SHINGLE) -> frozenset[str]:
    """The runs of ``size`` consecutive content words of ``text`` (quotations aside)."""
    words = content_words(text)
    return frozenset(" ".join(words[i:i + size]) for i in range(len(words) - size + 1))


def overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """Shared shingles as a share of the smaller set (0 when either is empty)."""
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


def pre_annotation(answer: dict[str, Any], correction: dict[str, Any] | None = None) -> dict[str, Any]:
    """The labels an annotator starts from: the model's labels, with a correction's labels winning."""
    frames = {f: bool(v["label"]) for f, v in answer.get("frames", {}).items()}
    stance = {t: v["label"] for t, v in answer.get("stance", {}).items()}
    if correction:
        frames.update({f: bool(v) for f, v in correction.get("frames", {}).items()})
        stance.update(correction.get("stance", {}))
    return {"frames": [f for f, on in frames.items() if on], "stance": stance}


def _labellable(text: str) -> bool:
    return MIN_WORDS <= len(text.split()) <= MAX_WORDS


def article_candidates(articles: Iterable[Any], predict: Predict, model: dict[str, Any], input_name: str,
                       split: Callable[[str | None, str], list[dict]]) -> tuple[list[Candidate], dict[str, int]]:
    """The passages of ``articles`` (``scoring.inputs.Article``) split by ``split`` (the service's
    ``article_passages``), each with the model's answer. Returns the candidates and the counts of
    passages left out: ``no_date`` (the corpus needs a date) and ``length`` (outside the corpus's
    word limits, so the import would reject them)."""
    pending: list[Candidate] = []
    skipped = {"no_date": 0, "length": 0}
    for a in articles:
        for i, p in enumerate(split(a.title, a.text)):
            if not a.published:
                skipped["no_date"] += 1
            elif not _labellable(p["text"]):
                skipped["length"] += 1
            else:
                pending.append(Candidate(passage_id(p["text"]), p["text"],
                                         {"input": input_name, "article_id": a.id, "passage_index": i},
                                         a.published, {}, model, {}))
    for start in range(0, len(pending), PREDICT_CHUNK):
        chunk = pending[start:start + PREDICT_CHUNK]
        for c, result in zip(chunk, predict([c.text for c in chunk]), strict=True):
            c.answer = {"frames": {f: {"score": v["score"], "label": v["label"]} for f, v in result["frames"].items()},
                        "stance": {t: {"label": v["label"], "scores": v["scores"]} for t, v in result["stance"].items()}}
            c.pre_annotation = pre_annotation(c.answer)
            c.score, c.reason = uncertainty(c.answer)
    return pending, skipped


def correction_candidates(records: Sequence[dict[str, Any]], codebook: Codebook) -> tuple[list[Candidate], list[str]]:
    """One candidate per distinct corrected text, oldest first. Corrections of one text are merged in
    time order (a later one wins on a label both correct); the candidate names the latest in its origin
    and the earlier ones under ``supersedes``. Returns the candidates and the
    problems (a correction naming labels the codebook does not have, a text outside the word limits, a
    malformed answer)."""
    latest: dict[str, dict[str, Any]] = {}
    merged: dict[str, dict[str, dict[str, Any]]] = {}
    others: dict[str, list[str]] = {}
    problems: list[str] = []
    for r in sorted(records, key=lambda r: str(r["created_at"])):
        corr = r.get("correction") or {}
        bad = [f for f in corr.get("frames", {}) if f not in codebook.frame_ids]
        bad += [f"{t}={v}" for t, v in corr.get("stance", {}).items()
                if t not in codebook.target_ids or v not in codebook.stance_labels]
        if bad:
            problems.append(f"correction {r['id']}: labels not in codebook {codebook.version}: {bad}")
            continue
        if not _labellable(r["text"]):
            problems.append(f"correction {r['id']}: text has {len(r['text'].split())} words; the corpus takes "
                            f"{MIN_WORDS}-{MAX_WORDS}")
            continue
        try:
            uncertainty(r["answer"])
            pre_annotation(r["answer"], corr)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            problems.append(f"correction {r['id']}: the model's answer is malformed ({exc!r})")
            continue
        pid = passage_id(r["text"])
        merged.setdefault(pid, {"frames": {}, "stance": {}})
        merged[pid]["frames"].update(corr.get("frames", {}))
        merged[pid]["stance"].update(corr.get("stance", {}))
        if pid in latest:
            others.setdefault(pid, []).append(latest[pid]["id"])
        latest[pid] = r
    out = []
    for pid, r in latest.items():
        corr = merged[pid]
        model = {k: r["model"].get(k) for k in ("name", "version", "run_id")}
        origin = {"correction": r["id"], "created_at": r["created_at"], "note": r.get("note")}
        if pid in others:
            origin["supersedes"] = others[pid]
        changed = [*(f"frame {f}={v}" for f, v in corr["frames"].items()),
                   *(f"stance {t}={v}" for t, v in corr["stance"].items())]
        score, _ = uncertainty(r["answer"])
        out.append(Candidate(pid, r["text"], origin, r.get("date"), r["answer"], model,
                             pre_annotation(r["answer"], corr), corr, score,
                             "analyst correction: " + ", ".join(changed)))
    return out, problems


def reference_passages(corpus: Sequence[Passage], realdev: Sequence[dict[str, Any]]) -> list[Passage]:
    """The corpus and the realdev passages (as passages of their own articles), what a new passage must
    not repeat: the corpus would refuse it, and realdev must stay unseen by training."""
    return [*corpus, *(Passage(id=r["id"], article_id=f"realdev:{r['id']}", kind="", date="", text=r["text"],
                               frames=(), stance={}, notes="") for r in realdev)]


def select(corrections: Sequence[Candidate], candidates: Sequence[Candidate], n: int,
           reference: Sequence[Passage] = (), max_overlap: float = MAX_OVERLAP) -> tuple[list[Candidate], dict[str, int]]:
    """Up to ``n`` passages: corrections first (oldest first), then candidates by falling uncertainty
    (ties by passage id), skipping a passage that repeats one of ``reference`` (``corpus.repeats``),
    one already chosen, or one sharing more than ``max_overlap`` of its content-word shingles with a
    chosen one. Returns the batch and how many were skipped for each reason."""
    if n < 1:
        raise ValueError(f"the batch size must be at least 1, got {n}")
    ordered = [*corrections, *sorted(candidates, key=lambda c: (-c.score, c.passage_id))]
    known = repeats([c.text for c in ordered], reference)
    chosen: list[Candidate] = []
    seen: set[str] = set()
    skipped = {"known": 0, "same_text": 0, "near_duplicate": 0}
    for i, c in enumerate(ordered):
        if len(chosen) >= n:
            break
        c.shingles = shingles(c.text)
        if i in known:
            skipped["known"] += 1
        elif c.passage_id in seen:
            skipped["same_text"] += 1
        elif any(overlap(c.shingles, d.shingles) > max_overlap for d in chosen):
            skipped["near_duplicate"] += 1
        else:
            chosen.append(c)
            seen.add(c.passage_id)
    return chosen, skipped


def default_batch_path(root: Path, stamp: str) -> Path:
    """Where a batch goes when no path is given: ``var/annotate/batch-<stamp>.jsonl`` under ``root``."""
    return root / "var" / "annotate" / f"batch-{stamp}.jsonl"
