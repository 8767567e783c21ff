"""A Label Studio JSON export read back into a new corpus file, every row checked, or nothing written.

Each annotation is checked against the codebook; a task's annotations must agree (or one be marked
ground truth); a passage that repeats a realdev passage or a corpus passage is refused; then the
whole corpus with the new file is validated as ``python -m labels validate`` does before the file is
put in place under a name no other file has.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labels.agreement import cohen_kappa
from labels.codebook import Codebook
from labels.corpus import KINDS, MAX_WORDS, MIN_WORDS, Passage, near_duplicates, read_corpus, repeats
from labels.splits import SplitConfig, check_leakage, split_passages
from labels.studio import FRAMES, KIND, NOTES, STANCE_PREFIX, TEXT

GROUP = "ann"  # the source group of annotated passages; SplitConfig.train_groups puts it in train
_NAME = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)*$")


class IngestError(ValueError):
    """The export cannot be imported at all (unreadable, a name in use, the corpus would not validate)."""


@dataclass(frozen=True)
class Reject:
    task: int | None
    passage_id: str | None
    reason: str

    def record(self) -> dict[str, Any]:
        return {"task": self.task, "passage_id": self.passage_id, "reason": self.reason}


@dataclass
class Ingested:
    """What an export yields: corpus rows, rejected tasks, and the agreement between annotators."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    cancelled: int = 0
    multi_annotated: int = 0
    conflicts: dict[str, int] = field(default_factory=dict)
    kappa: dict[str, tuple[int, float]] = field(default_factory=dict)


def check_name(name: str) -> str:
    """``name`` if it can name a corpus file and its articles (``ann-<name>-a001``); else ``IngestError``."""
    if not _NAME.match(name):
        raise IngestError(f"name {name!r} must be lower-case letters and digits, words joined by '_'")
    return name


def read_export(path: Path) -> list[dict[str, Any]]:
    """The tasks of a Label Studio JSON export; raise ``IngestError`` when it is not one."""
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IngestError(f"{path}: not a readable Label Studio JSON export: {exc}") from exc
    if not isinstance(tasks, list) or not all(isinstance(t, dict) and "data" in t for t in tasks):
        raise IngestError(f"{path}: a Label Studio JSON export is a list of tasks, each with 'data'")
    return tasks


def parse_annotation(result: list[dict[str, Any]], codebook: Codebook) -> tuple[dict[str, Any] | None, list[str]]:
    """One annotation's labels ``{"frames", "stance", "kind", "notes"}``, or ``None`` and every problem:
    an unknown control or label, a stance target or the kind left unanswered."""
    frames: list[str] = []
    stance: dict[str, str] = {}
    kind: str | None = None
    notes: list[str] = []
    problems: list[str] = []
    for item in result:
        control, value = item.get("from_name"), item.get("value") or {}
        choices = value.get("choices", [])
        if control == FRAMES:
            frames += choices
        elif isinstance(control, str) and control.startswith(STANCE_PREFIX):
            target = control[len(STANCE_PREFIX):]
            if target not in codebook.target_ids:
                problems.append(f"stance target {target!r} is not in codebook {codebook.version}")
            elif len(choices) != 1 or choices[0] not in codebook.stance_labels:
                problems.append(f"stance {target}={choices} is not one of {list(codebook.stance_labels)}")
            else:
                stance[target] = choices[0]
        elif control == KIND:
            if len(choices) != 1 or choices[0] not in KINDS:
                problems.append(f"kind {choices} is not one of {list(KINDS)}")
            else:
                kind = choices[0]
        elif control == NOTES:
            notes += [t.strip() for t in value.get("text", []) if t.strip()]
        else:
            problems.append(f"unknown control {control!r} (not in the exported interface)")
    unknown = [f for f in frames if f not in codebook.frame_ids]
    if unknown:
        problems.append(f"frame(s) {unknown} not in codebook {codebook.version} ({codebook.frame_ids})")
    missing = [t for t in codebook.target_ids if t not in stance]
    if missing:
        problems.append(f"no stance chosen for {missing}")
    if kind is None and not any(p.startswith("kind") for p in problems):
        problems.append("no kind chosen")
    if problems:
        return None, problems
    return {"frames": [f for f in codebook.frame_ids if f in frames], "stance": stance, "kind": kind,
            "notes": " ".join(notes)}, []


def _label_values(labels: dict[str, Any], codebook: Codebook) -> dict[str, str]:
    """Every label an annotator decides, as comparable strings (frames present or absent)."""
    out = {f"frame:{f}": str(f in labels["frames"]) for f in codebook.frame_ids}
    out.update({f"stance:{t}": labels["stance"][t] for t in codebook.target_ids})
    out["kind"] = labels["kind"]
    return out


def _date(task_data: dict[str, Any], origin: dict[str, Any]) -> str | None:
    if task_data.get("date"):
        return str(task_data["date"])
    if origin.get("created_at"):  # a correction: the passage was read the day the analyst corrected it
        return str(origin["created_at"])[:10]
    return None


def ingest(tasks: list[dict[str, Any]], codebook: Codebook, name: str, reference: list[Passage]) -> Ingested:
    """Corpus rows for the annotated tasks and why each other task was rejected.

    A task's annotations (cancelled ones skipped) must each be valid; when there are several they must
    agree on every label and on the kind, unless one is marked ground truth, which then wins. Conflicts
    are counted per label over the tasks with several annotations, and Cohen's kappa per label over the
    first two annotations of each. Rows get article ids ``ann-<name>-aNNN`` (one per source article or
    correction) and ids ``<article id>-NN``."""
    out = Ingested()
    pairs: dict[str, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    accepted: list[tuple[dict[str, Any], dict[str, Any], str]] = []  # (task, labels, text)
    for t in tasks:
        data, tid = t["data"], t.get("id")
        pid = data.get("passage_id")

        def reject(reason: str, tid: Any = tid, pid: Any = pid) -> None:
            out.rejects.append(Reject(tid, pid, reason))

        done = [a for a in t.get("annotations", []) if not a.get("was_cancelled")]
        out.cancelled += len(t.get("annotations", [])) - len(done)
        if not done:
            reject("no annotation (none made, or all cancelled)")
            continue
        done.sort(key=lambda a: a.get("id", 0))
        parsed = [parse_annotation(a.get("result", []), codebook) for a in done]
        bad = [f"annotation {a.get('id')}: " + "; ".join(problems)
               for a, (_, problems) in zip(done, parsed, strict=True) if problems]
        if bad:
            reject("invalid annotation: " + " | ".join(bad))
            continue
        labels = [p for p, _ in parsed if p is not None]
        chosen = labels[0]
        if len(labels) > 1:
            out.multi_annotated += 1
            values = [_label_values(lab, codebook) for lab in labels]
            for key in values[0]:
                pairs[key][0].append(values[0][key])
                pairs[key][1].append(values[1][key])
            disagree = sorted(k for k in values[0] if len({v[k] for v in values}) > 1)
            for k in disagree:
                out.conflicts[k] = out.conflicts.get(k, 0) + 1
            truth = [lab for a, lab in zip(done, labels, strict=True) if a.get("ground_truth")]
            if disagree and not truth:
                reject(f"annotators disagree on {disagree} and none of the {len(labels)} annotations is marked "
                       f"ground truth")
                continue
            chosen = truth[0] if truth else chosen
        text = str(data.get(TEXT, ""))
        n_words = len(text.split())
        if not MIN_WORDS <= n_words <= MAX_WORDS:
            reject(f"text has {n_words} words; passages must have {MIN_WORDS}-{MAX_WORDS}")
            continue
        accepted.append((t, {**chosen, "annotations": [a.get("id") for a in done]}, text))
    out.kappa = {k: (len(a), cohen_kappa(a, b)) for k, (a, b) in pairs.items()}
    known = repeats([text for _, _, text in accepted], reference)
    for i, (t, _, _) in enumerate(accepted):
        if i in known:
            out.rejects.append(Reject(t.get("id"), t["data"].get("passage_id"), f"near-duplicate: {known[i]}"))
    out.rows = _rows([x for i, x in enumerate(accepted) if i not in known], name, out.rejects)
    return out


def _rows(accepted: list[tuple[dict[str, Any], dict[str, Any], str]], name: str, rejects: list[Reject]) -> list[dict]:
    """Number the accepted tasks into articles and passages; reject undated ones and a passage that
    repeats an earlier one of another article (the corpus refuses both)."""
    articles: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for t, labels, text in accepted:
        data = t["data"]
        origin = json.loads(data["origin"]) if isinstance(data.get("origin"), str) else dict(data.get("origin") or {})
        date = _date(data, origin)
        if date is None:
            rejects.append(Reject(t.get("id"), data.get("passage_id"), "no date: the input gave none, the corpus "
                                                                        "needs one"))
            continue
        key = f"correction {origin['correction']}" if "correction" in origin else \
            f"{origin.get('input')} {origin.get('article_id')}"
        row = {"kind": labels["kind"], "date": date, "text": text, "frames": labels["frames"],
               "stance": labels["stance"], "notes": labels["notes"], "focus": "ukraine",
               "annotation": {"passage_id": data.get("passage_id"), "task": t.get("id"),
                              "annotations": labels["annotations"], "origin": origin}}
        articles.setdefault(key, []).append((int(origin.get("passage_index", 0)), row))
    rows: list[dict[str, Any]] = []
    for a, members in enumerate(articles.values(), start=1):
        article_id = f"{GROUP}-{name}-a{a:03d}"
        for j, (_, row) in enumerate(sorted(members, key=lambda m: m[0]), start=1):
            rows.append({"id": f"{article_id}-{j:02d}", "article_id": article_id, **row})
    probes = [Passage(r["id"], r["article_id"], r["kind"], r["date"], r["text"], (), {}, "") for r in rows]
    dup = {b.id: f"near-duplicate: shares {what} with {a.id} of this import: '{shared}'"
           for a, b, shared, what in near_duplicates(probes)}
    for r in rows:
        if r["id"] in dup:
            rejects.append(Reject(r["annotation"]["task"], r["annotation"]["passage_id"], dup[r["id"]]))
    return [r for r in rows if r["id"] not in dup]


def validate_with(data_dir: Path, name: str, rows: list[dict[str, Any]], codebook: Codebook) -> list[str]:
    """The problems ``python -m labels validate`` would report for ``data_dir`` with ``<name>.jsonl``
    holding ``rows`` (checked in a temporary folder; ``data_dir`` is not touched)."""
    with tempfile.TemporaryDirectory(prefix="ingest-") as tmp:
        for f in sorted(data_dir.glob("*.jsonl")):
            os.symlink(f.resolve(), Path(tmp) / f.name)
        _write(Path(tmp) / f"{name}.jsonl", rows)
        passages, problems = read_corpus(tmp, codebook)
        if passages and not problems:
            problems += check_leakage(split_passages(passages, SplitConfig()))
        return [str(p) for p in problems]


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        fh.flush()
        os.fsync(fh.fileno())


def write_new(data_dir: Path, name: str, rows: list[dict[str, Any]], codebook: Codebook) -> Path:
    """Put ``rows`` in ``data_dir/<name>.jsonl`` if the corpus with them validates; return the path.

    Raises ``IngestError`` when the file exists, there is nothing to write or the corpus would not
    validate; then ``data_dir`` is left exactly as it was."""
    final = data_dir / f"{check_name(name)}.jsonl"
    if final.exists():
        raise IngestError(f"{final} exists; an import always writes a new file (choose another --name)")
    if not rows:
        raise IngestError("no task passed the checks; nothing to import")
    problems = validate_with(data_dir, name, rows, codebook)
    if problems:
        raise IngestError(f"the corpus would not validate with the import ({len(problems)} problem(s)); nothing "
                          f"written:\n" + "\n".join(problems[:20]))
    tmp = data_dir / f".{name}.jsonl.tmp"  # not *.jsonl: a reader of the corpus never sees it
    _write(tmp, rows)
    try:
        os.link(tmp, final)  # fails if the name was taken meanwhile, unlike a rename
    except FileExistsError:
        raise IngestError(f"{final} appeared during the import; nothing written") from None
    finally:
        tmp.unlink()
    return final
