"""Read the annotated corpus and report every problem with file and line.

The corpus is ``labels/data/*.jsonl``: one passage a line. Reading never stops at the first
problem: it collects them all, so an annotator fixes a file in one pass.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from labels.codebook import Codebook

DEFAULT_DATA_DIR = Path(__file__).with_name("data")
KINDS = ("wire", "quotes", "analysis", "oped", "headline", "liveblog", "caption")
REQUIRED = ("id", "article_id", "kind", "date", "text", "frames", "stance", "notes")
MIN_WORDS, MAX_WORDS = 8, 130
# The corpus starts with the 2014 war in Donbas; a passage cannot be dated after the day it is read.
FIRST_DATE = date(2014, 1, 1)
# Two passages of different articles sharing a run of this many words (quotations aside) are
# near-duplicates. Within one article a shared run is allowed: minimal pairs (a passage edited to
# flip or remove its stance) live in one article, so the split never separates them.
NEAR_DUP_RUN = 12

# Two passages of different articles sharing a run of this many content words are near-duplicates.
NEAR_DUP_CONTENT_RUN = 8
STOPWORDS = frozenset(["a", "an", "the", "and", "or", "but", "nor", "so", "yet", "of", "to", "in", "on", "at", "by", "for", "from", "with", "without", "into", "onto", "over", "under", "about", "as", "than", "then", "that", "this", "these", "those", "there", "here", "it", "its", "it's", "is", "are", "was", "were", "be", "been", "being", "am", "do", "does", "did", "done", "has", "have", "had", "having", "will", "would", "shall", "should", "can", "could", "may", "might", "must", "not", "no", "any", "some", "all", "each", "every", "he", "she", "they", "them", "their", "his", "her", "him", "we", "our", "us", "you", "your", "i", "me", "my", "who", "whom", "whose", "which", "what", "when", "where", "why", "how", "also", "too", "very", "just", "only", "even", "still", "both", "either", "neither", "said", "says", "say", "told", "tells"])
_QUOTED = re.compile(r"[\"\u201c][^\"\u201d]*[\"\u201d]")
_WORD = re.compile(r"[a-z0-9']+")


@dataclass(frozen=True)
class Problem:
    """One problem found in the corpus, located by file and line (line 0: the whole file)."""

    file: str
    line: int
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: [{self.kind}] {self.message}"


@dataclass(frozen=True)
class Passage:
    id: str
    article_id: str
    kind: str
    date: str
    text: str
    frames: tuple[str, ...]
    stance: dict[str, str]
    notes: str
    focus: str = "ukraine"
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)

    def record(self) -> dict[str, Any]:
        """The passage as a flat record (the columns of the ``datasets`` splits)."""
        return {
            "id": self.id, "article_id": self.article_id, "kind": self.kind, "date": self.date,
            "focus": self.focus, "text": self.text, "frames": list(self.frames),
            "stance": dict(self.stance),
        }


def words_outside_quotes(text: str) -> list[str]:
    """Lower-cased words of ``text`` with quoted speech removed (quotes may legitimately repeat)."""
    return _WORD.findall(_QUOTED.sub(" ", text).lower())


def _check_record(obj: Any, codebook: Codebook, where: tuple[str, int]) -> tuple[Passage | None, list[Problem]]:
    file, line = where
    problems: list[Problem] = []

    def bad(kind: str, message: str) -> None:
        problems.append(Problem(file, line, kind, message))

    if not isinstance(obj, dict):
        bad("bad-json", f"expected a JSON object, got {type(obj).__name__}")
        return None, problems
    missing = [k for k in REQUIRED if k not in obj]
    if missing:
        bad("missing-field", f"missing field(s): {', '.join(missing)}")
        return None, problems
    for key in ("id", "article_id", "kind", "date", "text", "notes"):
        if not isinstance(obj[key], str):
            bad("wrong-type", f"'{key}' must be a string, got {type(obj[key]).__name__}")
    if problems:
        return None, problems
    if not obj["id"].startswith(obj["article_id"] + "-"):
        bad("bad-id", f"id {obj['id']!r} must start with its article_id {obj['article_id']!r} and '-'")
    if obj["kind"] not in KINDS:
        bad("unknown-kind", f"kind {obj['kind']!r} is not one of {list(KINDS)}")
    try:
        d, today = date.fromisoformat(obj["date"]), date.today()
        if not FIRST_DATE <= d <= today:
            bad("bad-date", f"date {obj['date']} is outside {FIRST_DATE}..{today} (today)")
    except ValueError:
        bad("bad-date", f"date {obj['date']!r} is not an ISO date (YYYY-MM-DD)")
    n_words = len(obj["text"].split())
    if not MIN_WORDS <= n_words <= MAX_WORDS:
        bad("length", f"text has {n_words} words; passages must have {MIN_WORDS}-{MAX_WORDS}")

    frames = obj["frames"]
    if not isinstance(frames, list) or not all(isinstance(f, str) for f in frames):
        bad("wrong-type", "'frames' must be a list of frame ids")
        frames = []
    unknown = [f for f in frames if f not in codebook.frame_ids]
    if unknown:
        bad("unknown-label", f"frame(s) {unknown} not in codebook {codebook.version} ({codebook.frame_ids})")
    if len(set(frames)) != len(frames):
        bad("duplicate-label", f"frames list repeats a label: {frames}")

    stance = obj["stance"]
    if not isinstance(stance, dict):
        bad("wrong-type", "'stance' must be an object mapping target id to label")
        stance = {}
    for target in stance:
        if target not in codebook.target_ids:
            bad("unknown-label", f"stance target {target!r} not in codebook ({codebook.target_ids})")
        elif stance[target] not in codebook.stance_labels:
            bad("unknown-label", f"stance {target}={stance[target]!r} is not one of {list(codebook.stance_labels)}")
    for target in codebook.target_ids:
        if target not in stance:
            bad("missing-field", f"stance for target {target!r} is missing")
    focus = obj.get("focus", "ukraine")
    if not isinstance(focus, str):
        bad("wrong-type", "'focus' must be a string")
    if problems:
        return None, problems
    return Passage(
        id=obj["id"], article_id=obj["article_id"], kind=obj["kind"], date=obj["date"],
        text=obj["text"], frames=tuple(frames), stance=dict(stance), notes=obj["notes"],
        focus=focus, file=file, line=line,
    ), problems


def read_file(path: Path, codebook: Codebook) -> tuple[list[Passage], list[Problem]]:
    """Read one JSONL file; return its valid passages and the problems of the others."""
    passages: list[Passage] = []
    problems: list[Problem] = []
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return [], [Problem(str(path), 0, "unreadable", str(exc))]
    for lineno, line_bytes in enumerate(raw.split(b"\n"), start=1):
        if not line_bytes.strip():
            continue
        try:
            line = line_bytes.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(Problem(str(path), lineno, "bad-encoding", f"not UTF-8: {exc}"))
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(Problem(str(path), lineno, "bad-json", f"invalid JSON: {exc.msg} at column {exc.colno}"))
            continue
        passage, found = _check_record(obj, codebook, (str(path), lineno))
        problems.extend(found)
        if passage is not None:
            passages.append(passage)
    return passages, problems


def content_words(text: str) -> list[str]:
    """``words_outside_quotes`` without function words: what is left when a sentence is lightly
    reworded (articles, auxiliaries and connectives swapped) still matches."""
    return [w for w in words_outside_quotes(text) if w not in STOPWORDS]


def find_near_duplicates(passages: list[Passage], run: int = NEAR_DUP_RUN,
                         words: Callable[[str], list[str]] = words_outside_quotes) -> list[tuple[Passage, Passage, str]]:
    """Pairs of passages of different articles sharing ``run`` consecutive ``words`` (by default the
    words outside quotations), with the shared run."""
    first_seen: dict[str, Passage] = {}
    pairs: dict[tuple[str, str], tuple[Passage, Passage, str]] = {}
    for p in passages:
        w = words(p.text)
        for i in range(len(w) - run + 1):
            key = " ".join(w[i:i + run])
            other = first_seen.setdefault(key, p)
            if other.article_id != p.article_id and (other.id, p.id) not in pairs:
                pairs[(other.id, p.id)] = (other, p, key)
    return list(pairs.values())


def near_duplicates(passages: list[Passage]) -> list[tuple[Passage, Passage, str, str]]:
    """Pairs of passages of different articles sharing a run of ``NEAR_DUP_RUN`` words or, failing
    that, of ``NEAR_DUP_CONTENT_RUN`` content words (light rewording keeps the content words), each
    once, with the shared run and which kind of run it is."""
    out = [(a, b, shared, f"a {NEAR_DUP_RUN}-word run") for a, b, shared in find_near_duplicates(passages)]
    seen = {(a.id, b.id) for a, b, _, _ in out}
    for a, b, shared in find_near_duplicates(passages, NEAR_DUP_CONTENT_RUN, content_words):
        if (a.id, b.id) not in seen:
            seen.add((a.id, b.id))
            out.append((a, b, shared, f"a run of {NEAR_DUP_CONTENT_RUN} content words"))
    return out


def repeats(texts: Sequence[str], reference: Sequence[Passage]) -> dict[int, str]:
    """The texts that are near-duplicates (``near_duplicates``' rule) of a ``reference`` passage: index of
    the text -> what it shares with which passage. Texts are not compared with each other."""
    probes = [Passage(id=f"text {i}", article_id=f"text {i}", kind="", date="", text=t, frames=(), stance={},
                      notes="") for i, t in enumerate(texts)]
    index = {id(p): i for i, p in enumerate(probes)}
    found: dict[int, str] = {}
    for a, b, shared, what in near_duplicates([*reference, *probes]):
        if id(b) in index and id(a) not in index:
            found.setdefault(index[id(b)], f"shares {what} with {a.id}: '{shared}'")
    return found


def check_corpus(passages: list[Passage]) -> list[Problem]:
    """Checks across passages: duplicate ids, articles split over files, near-duplicates (a shared run
    of ``NEAR_DUP_RUN`` words, or of ``NEAR_DUP_CONTENT_RUN`` content words, between articles)."""
    problems: list[Problem] = []
    by_id: dict[str, Passage] = {}
    for p in passages:
        if p.id in by_id:
            q = by_id[p.id]
            problems.append(Problem(p.file, p.line, "duplicate-id", f"id {p.id!r} already used at {q.file}:{q.line}"))
        else:
            by_id[p.id] = p
    article_files: dict[str, set[str]] = defaultdict(set)
    for p in passages:
        article_files[p.article_id].add(p.file)
    for article, files in sorted(article_files.items()):
        if len(files) > 1:
            problems.append(Problem(sorted(files)[1], 0, "article-split",
                                    f"article {article!r} has passages in several files: {sorted(files)}"))
    # refused between any two articles, so every split (cross-writer hold-outs included) stays clean
    for a, b, shared, what in near_duplicates(passages):
        problems.append(Problem(b.file, b.line, "near-duplicate",
                                f"{b.id} shares {what} with {a.id} ({a.file}:{a.line}): '{shared}'"))
    return problems


def read_corpus(data_dir: str | Path | None, codebook: Codebook) -> tuple[list[Passage], list[Problem]]:
    """Read every ``*.jsonl`` under ``data_dir`` in name order; return passages and all problems."""
    root = Path(data_dir) if data_dir is not None else DEFAULT_DATA_DIR
    files = sorted(root.glob("*.jsonl"))
    if not files:
        return [], [Problem(str(root), 0, "empty", "no *.jsonl files found")]
    passages: list[Passage] = []
    problems: list[Problem] = []
    for f in files:
        found, bad = read_file(f, codebook)
        passages.extend(found)
        problems.extend(bad)
    problems.extend(check_corpus(passages))
    return passages, problems
