"""The article summary's stance rule and evidence, on constructed passage results with known answers."""

from __future__ import annotations

import pytest

from serving.summary import EVIDENCE_PASSAGES, MIXED_BELOW, evidence_passages, stance_vote, summarise

LABELS = ("favor", "against", "neutral")
FRAMES = ["security_guarantee", "territorial_compromise", "escalation_risk"]
TARGET_FRAMES = {"nato_protection": "security_guarantee", "territorial_concession": "territorial_compromise"}


def passage(label: str, score: float, frames: tuple[str, ...] = (), target: str = "territorial_concession"):
    """One passage's result: ``label`` on ``target`` with ``score``, the rest spread evenly."""
    rest = (1.0 - score) / 2
    scores = {lab: (score if lab == label else rest) for lab in LABELS}
    other = {"label": "neutral", "scores": {"favor": 0.1, "against": 0.1, "neutral": 0.8}}
    stance = {t: ({"label": label, "scores": scores} if t == target else other) for t in TARGET_FRAMES}
    return {"frames": {f: {"score": 0.9 if f in frames else 0.1, "label": f in frames} for f in FRAMES},
            "stance": stance}


def vote(results, target="territorial_concession"):
    return stance_vote(results, target, LABELS, TARGET_FRAMES[target])


def test_president_insisting_on_the_whole_country_is_not_read_as_favouring_concession():
    """The issue's seed article: three hesitant 'favor' passages, one confident 'against', three neutral.
    A count of passages said favor; by weight the sides are close, and the article is mixed."""
    results = [passage("favor", 0.45), passage("favor", 0.48), passage("favor", 0.5),
               passage("against", 0.93), *(passage("neutral", 0.7) for _ in range(3))]
    got = vote(results)
    assert got["weights"] == {"favor": pytest.approx(1.43), "against": pytest.approx(0.93)}
    assert got["margin"] == pytest.approx((1.43 - 0.93) / 2.36, abs=1e-6)
    assert got["margin"] < MIXED_BELOW and got["label"] == "mixed"


@pytest.mark.parametrize("passages, label, margin", [
    ([("against", 0.9), ("against", 0.8), ("neutral", 0.9)], "against", 1.0),
    ([("favor", 0.9), ("favor", 0.9), ("favor", 0.9), ("against", 0.6)], "favor", (2.7 - 0.6) / 3.3),
    ([("favor", 0.6), ("against", 0.6)], "mixed", 0.0),
    ([("favor", 0.9), ("favor", 0.8), ("against", 0.9)], "mixed", 0.8 / 2.6),
    ([("favor", 0.9), ("favor", 0.9), ("against", 0.8)], "favor", 1.0 / 2.6),
])
def test_weighted_vote_margin_and_mixed(passages, label, margin):
    got = vote([passage(lab, s) for lab, s in passages])
    assert got["label"] == label and got["margin"] == pytest.approx(margin, abs=1e-6)


def test_no_side_taken_is_neutral_when_the_subject_is_discussed_and_not_addressed_otherwise():
    discussed = [passage("neutral", 0.8, frames=("territorial_compromise",)), passage("neutral", 0.9)]
    assert vote(discussed) == {"label": "neutral", "margin": None, "weights": {"favor": 0.0, "against": 0.0}}
    # the other frame being present does not make this target's subject discussed
    elsewhere = [passage("neutral", 0.8, frames=("security_guarantee",)), passage("neutral", 0.9)]
    assert vote(elsewhere)["label"] == "not addressed"
    assert stance_vote(discussed, "territorial_concession", LABELS, None)["label"] == "not addressed"


def spans_of(passages):
    """Each passage as one sentence (its own result), the form the service hands to ``summarise``."""
    return [{"start": 0, "end": len(p), "source": "text", "text": p} for p in passages]


def test_summary_cites_the_winning_side_and_both_sides_when_mixed():
    texts = ["Kyiv must keep every region.", "Parliament rejected a freeze.", "A plan was described."]
    results = [passage("against", 0.9), passage("against", 0.7), passage("neutral", 0.9)]
    passages = spans_of(texts)
    votes = {t: vote(results, t) for t in TARGET_FRAMES}
    cited = evidence_passages(results, FRAMES, list(TARGET_FRAMES), votes, LABELS)
    assert cited == {0, 1}
    sentences = {i: [({"start": 0, "end": len(texts[i]), "text": texts[i]}, results[i])] for i in cited}
    summary = summarise(passages, results, sentences, FRAMES, LABELS, list(TARGET_FRAMES), TARGET_FRAMES)
    concession = summary["stance"]["territorial_concession"]
    assert concession["label"] == "against" and concession["counts"] == {"favor": 0, "against": 2, "neutral": 1}
    assert [(e["label"], e["passage"], e["score"]) for e in concession["evidence"]] == [
        ("against", 0, 0.9), ("against", 1, 0.7)]
    assert summary["stance"]["nato_protection"]["label"] == "not addressed"
    assert summary["stance"]["nato_protection"]["evidence"] == []

    mixed = [passage("favor", 0.8), passage("against", 0.7)]
    votes = {t: vote(mixed, t) for t in TARGET_FRAMES}
    assert votes["territorial_concession"]["label"] == "mixed"
    sentences = {i: [({"start": 0, "end": 4, "text": "text"}, mixed[i])] for i in range(2)}
    summary = summarise(spans_of(["a", "b"]), mixed, sentences, FRAMES, LABELS, list(TARGET_FRAMES), TARGET_FRAMES)
    assert [e["label"] for e in summary["stance"]["territorial_concession"]["evidence"]] == ["favor", "against"]


def test_evidence_keeps_the_best_passages_and_falls_back_to_the_best_sentence():
    results = [passage("against", 0.5 + i / 100) for i in range(EVIDENCE_PASSAGES + 3)]
    votes = {t: vote(results, t) for t in TARGET_FRAMES}
    cited = evidence_passages(results, FRAMES, list(TARGET_FRAMES), votes, LABELS)
    assert cited == set(range(3, EVIDENCE_PASSAGES + 3))  # the five highest scores
    # no sentence of passage 7 is 'against' alone: the one with the highest 'against' score stands in
    sentences = {i: [({"start": 0, "end": 1, "text": "a"}, passage("neutral", 0.8)),
                     ({"start": 2, "end": 3, "text": "b"}, passage("favor", 0.6))] for i in cited}
    summary = summarise(spans_of(["x"] * len(results)), results, sentences, FRAMES, LABELS,
                        ["territorial_concession"], TARGET_FRAMES)
    first = summary["stance"]["territorial_concession"]["evidence"][0]
    assert first["passage"] == EVIDENCE_PASSAGES + 2
    assert [(s["text"], s["score"]) for s in first["sentences"]] == [("b", 0.2)]
