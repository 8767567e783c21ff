"""The article summary: frame shares, each target's stance by a stated rule, and the evidence for both.

The stance rule (also in the API schema and the README): passages labelled favor or against vote for
their label with their calibrated score as weight. The side with more weight wins; ``margin`` is
(winner's weight - other side's weight) / both weights, from 0 (a tie) to 1 (one side only). A
margin under ``MIXED_BELOW`` is ``mixed``. With no passage on either side the article is
``neutral`` if a passage carries the target's frame (the codebook's ``frame`` of the target: the
subject is discussed without a side), else ``not addressed``.

Evidence: for each frame and each target's winning side (both sides when mixed), the passages that
carry it, best first, and within each passage the sentences that carry it when labelled alone (the
best-scoring sentence if none does), with character offsets into the submitted title or text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from serving.articles import sentences
from stance_model.scope import CUT as IN_SCOPE_CUT

MIXED_BELOW = 1 / 3
"""A margin under this is ``mixed``: the weaker side holds over a third of the polar weight."""
EVIDENCE_PASSAGES = 5
"""Passages given as evidence for one frame or one side, at most."""
NEUTRAL, MIXED, NOT_ADDRESSED = "neutral", "mixed", "not addressed"


def stance_vote(results: list[dict[str, Any]], target: str, stance_labels: tuple[str, ...],
                frame: str | None) -> dict[str, Any]:
    """The article's stance on ``target`` from its passages' results, by the module's rule."""
    polar = [lab for lab in stance_labels if lab != NEUTRAL]
    weights = dict.fromkeys(polar, 0.0)
    for r in results:
        s = r["stance"][target]
        if s["label"] in weights:
            weights[s["label"]] += s["scores"][s["label"]]
    total = sum(weights.values())
    if total <= 0:
        discussed = frame is not None and any(r["frames"][frame]["label"] for r in results)
        label, margin = (NEUTRAL if discussed else NOT_ADDRESSED), None
    else:
        ranked = sorted(polar, key=lambda lab: -weights[lab])
        runner_up = weights[ranked[1]] if len(ranked) > 1 else 0.0
        margin = (weights[ranked[0]] - runner_up) / total
        label = MIXED if margin < MIXED_BELOW else ranked[0]
    return {"label": label, "margin": None if margin is None else round(margin, 6),
            "weights": {lab: round(w, 6) for lab, w in weights.items()}}


def sides(label: str, stance_labels: tuple[str, ...]) -> list[str]:
    """The stance labels whose passages are evidence for an article-level ``label``."""
    if label == MIXED:
        return [lab for lab in stance_labels if lab != NEUTRAL]
    return [label] if label in stance_labels and label != NEUTRAL else []


def evidence_passages(results: list[dict[str, Any]], frame_ids: list[str], targets: list[str],
                      stance: dict[str, dict[str, Any]], stance_labels: tuple[str, ...]) -> set[int]:
    """Indices of every passage the summary will cite (their sentences need scores)."""
    needed: set[int] = set()
    for f in frame_ids:
        needed.update(_best(results, _frame_key(f)))
    for t in targets:
        for lab in sides(stance[t]["label"], stance_labels):
            needed.update(_best(results, _stance_key(t, lab)))
    return needed


Sentences = dict[int, list[tuple[dict[str, Any], dict[str, Any]]]]
"""Per cited passage, its sentences (``start``, ``end``, ``text``) each with its result when labelled alone."""


def cited_sentences(passages: list[dict[str, Any]], results: list[dict[str, Any]],
                    cited: set[int]) -> tuple[Sentences, list[tuple[int, dict[str, Any]]]]:
    """The sentences of each cited passage, offsets into the passage's source. A passage of one
    sentence comes with its own result; the sentences of the others are returned, as (passage,
    sentence), to be labelled and handed to ``attach``."""
    out: Sentences = {}
    pending: list[tuple[int, dict[str, Any]]] = []
    for i in sorted(cited):
        p = passages[i]
        spans = [{"start": s.start, "end": s.end, "text": p["text"][s.start - p["start"]:s.end - p["start"]]}
                 for s in sentences(p["text"], p["start"])]
        if len(spans) == 1:
            out[i] = [(spans[0], results[i])]
        else:
            out[i] = []
            pending += [(i, span) for span in spans]
    return out, pending


def attach(sents: Sentences, pending: list[tuple[int, dict[str, Any]]], labelled: list[dict[str, Any]]) -> None:
    """Pair each pending sentence with its result, in place."""
    for (i, span), r in zip(pending, labelled, strict=True):
        sents[i].append((span, r))


def _frame_key(frame: str) -> Callable[[dict[str, Any]], float | None]:
    def key(r: dict[str, Any]) -> float | None:
        return r["frames"][frame]["score"] if r["frames"][frame]["label"] else None
    return key


def _stance_key(target: str, label: str) -> Callable[[dict[str, Any]], float | None]:
    def key(r: dict[str, Any]) -> float | None:
        s = r["stance"][target]
        return s["scores"][label] if s["label"] == label else None
    return key


def _best(results: list[dict[str, Any]], key: Callable[[dict[str, Any]], float | None]) -> list[int]:
    """Indices of the passages ``key`` scores (None: not carrying it), best first, at most ``EVIDENCE_PASSAGES``."""
    scored = [(s, i) for i, r in enumerate(results) if (s := key(r)) is not None]
    return [i for _, i in sorted(scored, key=lambda si: (-si[0], si[1]))[:EVIDENCE_PASSAGES]]


def _cite(results: list[dict[str, Any]], passages: list[dict[str, Any]],
          sents: Sentences, key: Callable[[dict[str, Any]], float | None], score: Callable[[dict[str, Any]], float]) -> list[dict[str, Any]]:
    """Evidence items: the best passages by ``key`` and, in each, the sentences ``key`` accepts alone."""
    items = []
    for i in _best(results, key):
        found = sents.get(i, [])  # none when the caller asked for passages only
        chosen = [(span, r) for span, r in found if key(r) is not None]
        if not chosen and found:
            chosen = [max(found, key=lambda sr: score(sr[1]))]
        items.append({"passage": i, "source": passages[i]["source"], "score": round(score(results[i]), 6),
                      "sentences": [{**span, "score": round(score(r), 6)} for span, r in chosen]})
    return items


def summarise(passages: list[dict[str, Any]], results: list[dict[str, Any]],
              sents: Sentences, frame_ids: list[str],
              stance_labels: tuple[str, ...], targets: list[str], target_frames: dict[str, str | None]) -> dict[str, Any]:
    """The article summary.

    ``sents`` maps every index ``evidence_passages`` returned to that passage's sentences
    (``cited_sentences``, ``attach``).
    """
    n = max(len(results), 1)
    frames = {}
    for f in frame_ids:
        frames[f] = {
            "share": sum(r["frames"][f]["label"] for r in results) / n,
            "max_score": max((r["frames"][f]["score"] for r in results), default=0.0),
            "evidence": _cite(results, passages, sents, _frame_key(f), lambda r, f=f: r["frames"][f]["score"]),
        }
    stance = {}
    for t in targets:
        vote = stance_vote(results, t, stance_labels, target_frames.get(t))
        counts = Counter(r["stance"][t]["label"] for r in results)
        evidence = []
        for lab in sides(vote["label"], stance_labels):
            for item in _cite(results, passages, sents, _stance_key(t, lab),
                              lambda r, t=t, lab=lab: r["stance"][t]["scores"][lab]):
                evidence.append({"label": lab, **item})
        stance[t] = {**vote, "counts": {lab: counts.get(lab, 0) for lab in stance_labels},
                     "mean_scores": {lab: round(sum(r["stance"][t]["scores"][lab] for r in results) / n, 6)
                                     for lab in stance_labels},
                     "evidence": evidence}
    scope = [r.get("in_scope") for r in results]
    in_scope = None if not scope or None in scope else round(sum(v >= IN_SCOPE_CUT for v in scope) / n, 6)
    return {"passages": len(results), "in_scope_share": in_scope, "frames": frames, "stance": stance}


def plan_evidence(passages: list[dict[str, Any]], results: list[dict[str, Any]], codebook: Any,
                  targets: list[str]) -> tuple[Sentences, list[tuple[int, dict[str, Any]]]]:
    """The sentences the summary will cite, and those still to be labelled (``cited_sentences``)."""
    frames = {t.id: t.frame for t in codebook.targets}
    votes = {t: stance_vote(results, t, codebook.stance_labels, frames[t]) for t in targets}
    cited = evidence_passages(results, codebook.frame_ids, targets, votes, codebook.stance_labels)
    return cited_sentences(passages, results, cited)


def summarise_article(passages: list[dict[str, Any]], results: list[dict[str, Any]], sents: Sentences,
                      codebook: Any, targets: list[str]) -> dict[str, Any]:
    """``summarise`` with the label space and target frames read from ``codebook``."""
    return summarise(passages, results, sents, codebook.frame_ids, codebook.stance_labels, targets,
                     {t.id: t.frame for t in codebook.targets})
