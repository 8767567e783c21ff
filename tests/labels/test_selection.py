"""Choosing what to annotate: the uncertainty score, corrections first, no near-duplicates in a batch."""

import json
import math

import pytest

from labels.__main__ import main as labels_main
from labels.corpus import read_corpus
from labels.selection import (
    Candidate,
    article_candidates,
    correction_candidates,
    passage_id,
    pre_annotation,
    reference_passages,
    select,
    uncertainty,
)
from serving.articles import article_passages
from tests.conftest import TINY_REALDEV, write_jsonl

MODEL = {"name": "sf-test", "version": "3", "run_id": "r1"}
TEXTS = [
    "Envoys weighed a freeze of the front line while Kyiv insisted it would cede no occupied land at all.",
    "Ministers in Brussels discussed a reassurance force that would deploy only after a ceasefire is agreed.",
    "Moscow warned that long-range missiles supplied by allies would widen the war and draw in the alliance.",
    "Farmers in the south counted losses after a dry summer, with grain prices falling across the region.",
]


def answer(frame_p: float, margin: float, codebook) -> dict:
    """An answer whose frames all score ``frame_p`` and whose targets all have this favor-against margin."""
    top = (1 + margin) / 2
    return {"frames": {f: {"score": frame_p, "label": frame_p >= 0.5} for f in codebook.frame_ids},
            "stance": {t: {"label": "favor", "scores": {"favor": top, "against": 1 - top, "neutral": 0.0}}
                       for t in codebook.target_ids}}


def cand(text: str, score: float, **extra) -> Candidate:
    return Candidate(passage_id(text), text, {"input": "in.jsonl", "article_id": "a", "passage_index": 0},
                     "2026-11-30", {}, MODEL, {"frames": [], "stance": {}}, score=score, **extra)


def correction(cid: str, text: str, created: str, codebook, corr: dict) -> dict:
    return {"id": cid, "created_at": created, "text": text, "title": None, "date": "2026-12-01",
            "model": {"name": "sf-test", "version": "3", "alias": "champion", "run_id": "r1", "digest": "d"},
            "codebook_version": codebook.version, "answer": answer(0.2, 0.6, codebook), "correction": corr,
            "note": None}


def test_uncertainty_combines_stance_margins_and_frame_entropy(codebook):
    sure, _ = uncertainty(answer(0.01, 0.98, codebook))
    unsure, reason = uncertainty(answer(0.5, 0.0, codebook))
    assert unsure == pytest.approx(1.0) and sure < 0.1
    mixed, _ = uncertainty(answer(0.5, 1.0, codebook))  # frames a coin flip (1 bit), stance certain (0)
    n_f, n_t = len(codebook.frame_ids), len(codebook.target_ids)
    assert mixed == pytest.approx(n_f / (n_f + n_t))
    p = 0.2
    h = -(p * math.log2(p) + (1 - p) * math.log2(1 - p))
    assert uncertainty(answer(p, 0.4, codebook))[0] == pytest.approx((n_f * h + n_t * 0.6) / (n_f + n_t))
    assert reason.startswith("uncertainty 1.00: ") and reason.count(",") == 1
    with pytest.raises(ValueError):
        uncertainty({"frames": {}, "stance": {}})


def test_select_ranks_by_uncertainty_and_keeps_n():
    cands = [cand(t, s) for t, s in zip(TEXTS, [0.2, 0.9, 0.5, 0.7], strict=True)]
    batch, _ = select([], cands, 3)
    assert [c.text for c in batch] == [TEXTS[1], TEXTS[3], TEXTS[2]]
    with pytest.raises(ValueError):
        select([], cands, 0)


def test_select_skips_near_duplicates_and_repeated_texts():
    reworded = TEXTS[1].replace("Ministers in Brussels", "Defence ministers meeting in Brussels")
    cands = [cand(TEXTS[1], 0.9), cand(reworded, 0.8), cand(TEXTS[1], 0.7), cand(TEXTS[2], 0.1)]
    batch, skipped = select([], cands, 10)
    assert [c.text for c in batch] == [TEXTS[1], TEXTS[2]]
    assert skipped == {"known": 0, "same_text": 1, "near_duplicate": 1}
    assert [c.text for c in select([], cands, 10, max_overlap=1.0)[0]] == [TEXTS[1], reworded, TEXTS[2]]


def test_select_skips_what_the_corpus_or_realdev_already_holds(codebook, tiny_corpus_dir):
    corpus, _ = read_corpus(tiny_corpus_dir, codebook)
    realdev = [json.loads(line) for line in TINY_REALDEV.read_text().splitlines()]
    cands = [cand(corpus[0].text, 0.9), cand(realdev[0]["text"], 0.8), cand(TEXTS[0], 0.1)]
    batch, skipped = select([], cands, 10, reference_passages(corpus, realdev))
    assert [c.text for c in batch] == [TEXTS[0]] and skipped["known"] == 2


def test_corrections_come_first_deduplicated_and_merged(codebook):
    f0, t0 = codebook.frame_ids[0], codebook.target_ids[0]
    records = [correction("c2", TEXTS[0], "2026-12-02T10:00:00Z", codebook, {"stance": {t0: "against"}}),
               correction("c1", TEXTS[0], "2026-12-01T10:00:00Z", codebook, {"frames": {f0: True}}),
               correction("c3", TEXTS[2], "2026-12-03T10:00:00Z", codebook, {"frames": {f0: True}}),
               correction("bad", TEXTS[3], "2026-12-04T10:00:00Z", codebook, {"frames": {"no_such_frame": True}}),
               {**correction("empty", TEXTS[1], "2026-12-05T10:00:00Z", codebook, {"frames": {f0: True}}),
                "answer": {"frames": {}, "stance": {t0: {"label": "favor"}}}}]
    corrections, problems = correction_candidates(records, codebook)
    assert [c.origin["correction"] for c in corrections] == ["c2", "c3"]
    assert corrections[0].origin["supersedes"] == ["c1"]
    # both corrections of the first text apply; a later one wins on a label both correct
    assert corrections[0].pre_annotation["stance"][t0] == "against" and f0 in corrections[0].pre_annotation["frames"]
    assert corrections[1].pre_annotation["frames"] == [f0]
    again = correction("c4", TEXTS[0], "2026-12-06T10:00:00Z", codebook, {"stance": {t0: "neutral"}})
    merged, _ = correction_candidates([*records, again], codebook)
    assert merged[0].origin["correction"] == "c4" and merged[0].origin["supersedes"] == ["c1", "c2"]
    assert merged[0].pre_annotation["stance"][t0] == "neutral" and f0 in merged[0].pre_annotation["frames"]
    assert len(problems) == 2 and "no_such_frame" in problems[0]
    assert "empty: the model's answer is malformed" in problems[1]
    batch, _ = select(corrections, [cand(TEXTS[1], 0.99), cand(TEXTS[2], 0.98)], 3)
    assert [c.origin.get("correction") for c in batch] == ["c2", "c3", None]
    assert batch[0].reason == f"analyst correction: frame {f0}=True, stance {t0}=against"


def test_pre_annotation_takes_the_models_labels(codebook):
    ans = answer(0.7, 0.5, codebook)
    assert pre_annotation(ans) == {"frames": codebook.frame_ids, "stance": {t: "favor" for t in codebook.target_ids}}


def test_article_candidates_split_label_and_leave_out_undated_and_short(codebook):
    from scoring.inputs import Article

    seen = []

    def predict(texts):
        seen.extend(texts)
        return [{**answer(0.3, 0.2, codebook), "in_scope": 1.0} for _ in texts]

    dated = Article(1, "a1", "\n".join(TEXTS[:3]), "Envoys split", "2026-11-30")
    undated = Article(2, "a2", TEXTS[3], None, None)
    cands, left_out = article_candidates([dated, undated], predict, MODEL, "in.jsonl", article_passages)
    assert [c.origin for c in cands] == [{"input": "in.jsonl", "article_id": "a1", "passage_index": i}
                                         for i in (1, 2, 3)]
    assert left_out == {"no_date": 1, "length": 1}  # the two-word title
    assert seen == TEXTS[:3] and all(c.date == "2026-11-30" and c.model == MODEL for c in cands)
    assert cands[0].score == pytest.approx(uncertainty(cands[0].answer)[0]) and cands[0].score > 0


def test_cli_select_writes_a_batch_of_corrections_without_a_model(tmp_path, codebook, tiny_corpus_dir):
    t0 = codebook.target_ids[0]
    write_jsonl(tmp_path / "queue" / "corrections.jsonl",
                [correction("c1", TEXTS[0], "2026-12-01T10:00:00Z", codebook, {"stance": {t0: "neutral"}})])
    out = tmp_path / "batch.jsonl"
    code = labels_main(["--data-dir", str(tiny_corpus_dir), "annotate", "select", "--queue", str(tmp_path / "queue"),
                        "--realdev", str(TINY_REALDEV), "--out", str(out)])
    assert code == 0
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["origin"]["correction"] == "c1" and row["pre_annotation"]["stance"][t0] == "neutral"
    assert row["passage_id"] == passage_id(TEXTS[0]) and row["date"] == "2026-12-01"
    assert row["model"] == MODEL and row["codebook_version"] == codebook.version
    empty = labels_main(["--data-dir", str(tiny_corpus_dir), "annotate", "select", "--queue", str(tmp_path / "none"),
                         "--realdev", str(TINY_REALDEV), "--out", str(tmp_path / "b2.jsonl")])
    assert empty == 1 and not (tmp_path / "b2.jsonl").exists()
