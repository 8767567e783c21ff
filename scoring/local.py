"""The local engine: stream the input in chunks, label each chunk's passages in one call, write parts.

An article is read exactly as ``POST /v1/articles`` reads it (``serving.articles.article_passages``,
``serving.summary``), with the same model runtime and thresholds; its passage rows and its
summary equal the service's answer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from scoring.inputs import Article, Rejected, count_records, read_articles
from scoring.output import OutputDir
from serving.articles import article_passages
from serving.summary import attach, plan_evidence, summarise_article


def model_columns(model: Any) -> dict[str, Any]:
    """The model's identity, on every row."""
    return {"model_name": model.name, "model_version": model.version, "run_id": model.run_id,
            "model_digest": model.digest}


def passage_row(article: Article, index: int, passage: dict[str, Any], result: dict[str, Any],
                ident: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"article_id": article.id, "passage_index": index, "section": passage["source"],
                           "start": passage["start"], "end": passage["end"], "text": passage["text"],
                           "in_scope": result.get("in_scope")}
    for f, v in result["frames"].items():
        row.update({f"frame.{f}.score": v["score"], f"frame.{f}.label": v["label"],
                    f"frame.{f}.confident": v.get("confident")})
    for t, v in result["stance"].items():
        row.update({f"stance.{t}.label": v["label"], f"stance.{t}.confident": v.get("confident")})
        row.update({f"stance.{t}.{lab}": s for lab, s in v["scores"].items()})
    return {**row, **ident}


def article_row(article: Article, summary: dict[str, Any], ident: dict[str, Any]) -> dict[str, Any]:
    """The article's fields, its summary flattened for analysis, and the summary itself as JSON
    (``summary``: exactly what ``/v1/articles`` returns as its ``summary``)."""
    row: dict[str, Any] = {"article_id": article.id, "title": article.title, "published": article.published,
                           "source": article.source, "passages": summary["passages"],
                           "in_scope_share": summary.get("in_scope_share")}
    for f, v in summary["frames"].items():
        row.update({f"frame.{f}.share": v["share"], f"frame.{f}.max_score": v["max_score"]})
    for t, v in summary["stance"].items():
        row.update({f"stance.{t}.label": v["label"], f"stance.{t}.margin": v["margin"]})
        row.update({f"stance.{t}.weight.{lab}": w for lab, w in v["weights"].items()})
        row.update({f"stance.{t}.count.{lab}": c for lab, c in v["counts"].items()})
    row["summary"] = json.dumps(summary, ensure_ascii=False, sort_keys=True)
    return {**row, **ident}


def score_chunk(predictor: Any, articles: list[Article], targets: list[str] | None, evidence_sentences: bool,
                max_passages: int) -> tuple[list[tuple[Article, list[dict], list[dict], dict]], list[Rejected]]:
    """Label a chunk of articles: all their passages in one call, then all their evidence sentences
    in one call. Returns (article, passages, results, summary) per scored article, and the rejected."""
    used = predictor.check_targets(targets)
    split, rejected = [], []
    for a in articles:
        passages = article_passages(a.title, a.text)
        if not passages:
            rejected.append(Rejected(a.line, a.id, "the article has no text to label"))
        elif len(passages) > max_passages:
            rejected.append(Rejected(a.line, a.id, f"the article splits into {len(passages)} passages; the limit "
                                                   f"is {max_passages} (STANCE_MAX_ARTICLE_PASSAGES)"))
        else:
            split.append((a, passages))
    flat = predictor.predict([p["text"] for _, ps in split for p in ps], used) if split else []
    results, at = [], 0
    for _, ps in split:
        results.append(flat[at:at + len(ps)])
        at += len(ps)
    plans = [plan_evidence(ps, rs, predictor.codebook, used) if evidence_sentences else ({}, [])
             for (_, ps), rs in zip(split, results, strict=True)]
    pending = [span["text"] for _, todo in plans for _, span in todo]
    labelled = predictor.predict(pending, used) if pending else []
    out, at = [], 0
    for (a, ps), rs, (sents, todo) in zip(split, results, plans, strict=True):
        attach(sents, todo, labelled[at:at + len(todo)])
        at += len(todo)
        out.append((a, ps, rs, summarise_article(ps, rs, sents, predictor.codebook, used)))
    return out, rejected


class LocalScorer:
    """Scores a chunk of articles in this process: (passage rows, article rows, rejected)."""

    def __init__(self, predictor: Any, ident: dict[str, Any], targets: list[str] | None, evidence_sentences: bool,
                 max_passages: int) -> None:
        self.predictor, self.ident, self.targets = predictor, ident, targets
        self.evidence_sentences, self.max_passages = evidence_sentences, max_passages

    def __call__(self, articles: list[Article]) -> tuple[list[dict], list[dict], list[Rejected]]:
        scored, rejected = score_chunk(self.predictor, articles, self.targets, self.evidence_sentences,
                                       self.max_passages)
        passages = [passage_row(a, i, p, r, self.ident) for a, ps, rs, _ in scored
                    for i, (p, r) in enumerate(zip(ps, rs, strict=True))]
        return passages, [article_row(a, s, self.ident) for a, _, _, s in scored], rejected


def _chunks(records: Iterable[Article | Rejected], size: int) -> Iterator[list[Article | Rejected]]:
    chunk: list[Article | Rejected] = []
    articles = 0
    for r in records:
        chunk.append(r)
        articles += isinstance(r, Article)
        if articles >= size:
            yield chunk
            chunk, articles = [], 0
    if chunk:
        yield chunk


def score_file(model: Any, path: Path, out: OutputDir, *, targets: list[str] | None = None, chunk: int = 64,
               evidence_sentences: bool = True, max_chars: int = 200_000, max_passages: int = 256,
               progress: bool = True, scorer: Any = None) -> dict[str, Any]:
    """Score every article of ``path`` not already in ``out``; return the run's summary (also written
    to ``out``): read = already scored + scored + rejected. ``scorer`` (default ``LocalScorer``)
    turns a chunk of articles into rows; the Spark engine passes its own."""
    from tqdm import tqdm

    ident = model_columns(model)
    scorer = scorer or LocalScorer(model.predictor, ident, targets, evidence_sentences, max_passages)
    counts = {"read": 0, "already_scored": 0, "scored": 0, "rejected": 0, "passages": 0}
    started = time.perf_counter()
    bar = tqdm(total=count_records(path), unit="article", desc="scoring", disable=not progress, smoothing=0.1)
    for records in _chunks(read_articles(path, max_chars), chunk):
        counts["read"] += len(records)
        todo = [r for r in records if isinstance(r, Article) and r.id not in out.done]
        counts["already_scored"] += sum(isinstance(r, Article) and r.id in out.done for r in records)
        passages, articles, rejected = scorer(todo) if todo else ([], [], [])
        rejected += [r for r in records if isinstance(r, Rejected)]
        out.write_part(passages, articles)
        out.reject([{"line": r.line, "id": r.id, "reason": r.reason} for r in sorted(rejected, key=lambda r: r.line)])
        counts["scored"] += len(articles)
        counts["rejected"] += len(rejected)
        counts["passages"] += len(passages)
        bar.update(len(records))
    bar.close()
    seconds = time.perf_counter() - started
    summary = {"input": str(path), "output": str(out.root), "model": {**ident, "alias": model.alias}, **counts,
               "seconds": round(seconds, 2), "articles_per_s": round(counts["scored"] / seconds, 2) if seconds else None}
    out.write_summary(summary)
    return summary
