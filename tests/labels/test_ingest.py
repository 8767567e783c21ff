"""A Label Studio export read back into the corpus: every rejection with its reason, agreement between
annotators, and a new file written whole or not at all."""

import json
import shutil

import pytest

from labels.__main__ import main as labels_main
from labels.codebook import load_codebook
from labels.corpus import KINDS, read_corpus
from labels.ingest import IngestError, ingest, parse_annotation, validate_with, write_new
from labels.selection import reference_passages
from labels.splits import assign_splits
from labels.studio import stance_control, task
from tests.conftest import TINY_REALDEV

TEXTS = [
    "Envoys weighed a freeze of the front line while Kyiv insisted it would cede no occupied land at all.",
    "Ministers in Brussels discussed a reassurance force that would deploy only after a ceasefire is agreed.",
    "Moscow warned that long-range missiles supplied by allies would widen the war and draw in the alliance.",
    "Farmers in the south counted losses after a dry summer, with grain prices falling across the region.",
]


def make_task(tid: int, text: str, annotations: list, article: str = "a1", index: int = 0,
              date: str | None = "2026-11-30") -> dict:
    row = {"passage_id": f"p{tid}", "text": text, "date": date, "score": 0.5, "reason": "r",
           "origin": {"input": "in.jsonl", "article_id": article, "passage_index": index},
           "model": {"name": "sf-test", "version": "3", "run_id": "r1"},
           "pre_annotation": {"frames": [], "stance": {}}}
    got = task(row, load_codebook())
    return {"id": tid, **got, "annotations": annotations}


def result(codebook, frames=(), stance=None, kind="wire", notes=None) -> list:
    stance = stance if stance is not None else {t: "neutral" for t in codebook.target_ids}
    out = [{"from_name": "frames", "to_name": "text", "type": "choices", "value": {"choices": list(frames)}}]
    out += [{"from_name": stance_control(t), "to_name": "text", "type": "choices", "value": {"choices": [v]}}
            for t, v in stance.items()]
    if kind:
        out.append({"from_name": "kind", "to_name": "text", "type": "choices", "value": {"choices": [kind]}})
    if notes:
        out.append({"from_name": "notes", "to_name": "text", "type": "textarea", "value": {"text": [notes]}})
    return out


def ann(aid: int, res: list, ground_truth=False, cancelled=False) -> dict:
    return {"id": aid, "result": res, "ground_truth": ground_truth, "was_cancelled": cancelled, "completed_by": 1}


@pytest.fixture
def reference(codebook, tiny_corpus_dir):
    corpus, _ = read_corpus(tiny_corpus_dir, codebook)
    realdev = [json.loads(line) for line in TINY_REALDEV.read_text().splitlines()]
    return reference_passages(corpus, realdev)


@pytest.fixture
def data_dir(tmp_path, tiny_corpus_dir):
    return shutil.copytree(tiny_corpus_dir, tmp_path / "data")


def test_parse_annotation_names_every_problem(codebook):
    f0, t0 = codebook.frame_ids[0], codebook.target_ids[0]
    labels, problems = parse_annotation(result(codebook, [f0], notes="hard call"), codebook)
    assert problems == [] and labels == {"frames": [f0], "stance": {t: "neutral" for t in codebook.target_ids},
                                         "kind": "wire", "notes": "hard call"}
    bad = result(codebook, ["no_such_frame"], {t0: "maybe"}, kind=None)
    labels, problems = parse_annotation(bad, codebook)
    assert labels is None
    text = " | ".join(problems)
    assert "no_such_frame" in text and "maybe" in text and "no stance chosen" in text and "no kind chosen" in text
    _, problems = parse_annotation(result(codebook, kind="blog"), codebook)
    assert problems == [f"kind ['blog'] is not one of {list(KINDS)}"]
    _, problems = parse_annotation([*result(codebook), {"from_name": "mood", "value": {"choices": ["x"]}}], codebook)
    assert problems and "unknown control 'mood'" in problems[0]


def test_rows_get_ann_ids_grouped_by_source_article(codebook, reference):
    f0 = codebook.frame_ids[0]
    tasks = [make_task(1, TEXTS[0], [ann(1, result(codebook, [f0], notes="n1"))], "a1", 3),
             make_task(2, TEXTS[1], [ann(2, result(codebook, kind="analysis"))], "a2", 0),
             make_task(3, TEXTS[2], [ann(3, result(codebook))], "a1", 1)]
    got = ingest(tasks, codebook, "batch1", reference)
    assert got.rejects == []
    assert [(r["id"], r["text"]) for r in got.rows] == [("ann-batch1-a001-01", TEXTS[2]),
                                                        ("ann-batch1-a001-02", TEXTS[0]),
                                                        ("ann-batch1-a002-01", TEXTS[1])]
    first = got.rows[1]
    assert first["frames"] == [f0] and first["notes"] == "n1" and first["date"] == "2026-11-30"
    assert first["annotation"]["origin"]["article_id"] == "a1" and first["annotation"]["task"] == 1
    assert got.rows[2]["kind"] == "analysis"


def test_each_rejection_has_its_reason(codebook, reference, tiny_corpus_dir):
    corpus, _ = read_corpus(tiny_corpus_dir, codebook)
    realdev_text = json.loads(TINY_REALDEV.read_text().splitlines()[0])["text"]
    t0 = codebook.target_ids[0]
    tasks = [
        make_task(1, TEXTS[0], [ann(1, result(codebook, ["no_such_frame"]))]),
        make_task(2, TEXTS[1], [ann(2, result(codebook, stance={t0: "favor"}))], "a2"),
        make_task(3, TEXTS[2], [ann(3, result(codebook, kind=None))], "a3"),
        make_task(4, "Too short to be a passage.", [ann(4, result(codebook))], "a4"),
        make_task(5, TEXTS[3], [ann(5, result(codebook), cancelled=True)], "a5"),
        make_task(6, realdev_text, [ann(6, result(codebook))], "a6"),
        make_task(7, corpus[0].text, [ann(7, result(codebook))], "a7"),
        make_task(8, TEXTS[3], [ann(8, result(codebook))], "a8", date=None),
    ]
    got = ingest(tasks, codebook, "b", reference)
    assert got.rows == [] and got.cancelled == 1
    reasons = {r.task: r.reason for r in got.rejects}
    assert "no_such_frame" in reasons[1]
    assert "no stance chosen" in reasons[2]
    assert "no kind chosen" in reasons[3]
    assert reasons[4] == "text has 6 words; passages must have 8-130"
    assert reasons[5].startswith("no annotation")
    assert reasons[6].startswith("near-duplicate") and "rd-test-01" in reasons[6]
    assert reasons[7].startswith("near-duplicate") and corpus[0].id in reasons[7]
    assert reasons[8].startswith("no date")


def test_disagreement_rejects_unless_one_is_ground_truth_and_kappa_is_reported(codebook, reference):
    f0, f1, t0 = codebook.frame_ids[0], codebook.frame_ids[1], codebook.target_ids[0]
    yes = result(codebook, [f0])
    other = result(codebook, [f0, f1], {**{t: "neutral" for t in codebook.target_ids}, t0: "favor"})
    tasks = [make_task(1, TEXTS[0], [ann(1, yes), ann(2, other)], "a1"),
             make_task(2, TEXTS[1], [ann(3, yes), ann(4, other, ground_truth=True)], "a2"),
             make_task(3, TEXTS[2], [ann(5, yes), ann(6, yes), ann(7, yes, cancelled=True)], "a3"),
             make_task(4, TEXTS[3], [ann(8, result(codebook))], "a4")]
    got = ingest(tasks, codebook, "b", reference)
    assert [r.task for r in got.rejects] == [1]
    assert f"frame:{f1}" in got.rejects[0].reason and f"stance:{t0}" in got.rejects[0].reason
    by_task = {r["annotation"]["task"]: r for r in got.rows}
    assert by_task[2]["frames"] == [f0, f1] and by_task[2]["stance"][t0] == "favor"  # the ground truth
    assert by_task[3]["annotation"]["annotations"] == [5, 6]
    assert got.multi_annotated == 3 and got.cancelled == 1
    assert got.conflicts == {f"frame:{f1}": 2, f"stance:{t0}": 2}
    # three tasks with two annotations: f0 always agreed and present (kappa 1 by convention), f1 and t0
    # split 1/0 twice out of three
    assert got.kappa[f"frame:{f0}"] == (3, 1.0)
    assert got.kappa[f"frame:{f1}"][0] == 3 and got.kappa[f"frame:{f1}"][1] == pytest.approx(0.0)
    assert got.kappa["kind"] == (3, 1.0)


def test_write_new_validates_then_writes_a_new_file_only(codebook, reference, data_dir):
    tasks = [make_task(1, TEXTS[0], [ann(1, result(codebook))], "a1"),
             make_task(2, TEXTS[1], [ann(2, result(codebook))], "a2")]
    rows = ingest(tasks, codebook, "batch1", reference).rows
    before = sorted(p.name for p in data_dir.iterdir())
    bad = [*rows, rows[0]]  # a duplicate id: the corpus refuses it
    with pytest.raises(IngestError, match="duplicate-id"):
        write_new(data_dir, "batch1", bad, codebook)
    assert sorted(p.name for p in data_dir.iterdir()) == before
    with pytest.raises(IngestError, match="nothing to import"):
        write_new(data_dir, "batch1", [], codebook)
    path = write_new(data_dir, "batch1", rows, codebook)
    assert path == data_dir / "batch1.jsonl" and sorted(p.name for p in data_dir.iterdir()) == sorted(
        [*before, "batch1.jsonl"])
    with pytest.raises(IngestError, match="exists"):
        write_new(data_dir, "batch1", rows, codebook)
    passages, problems = read_corpus(data_dir, codebook)
    assert problems == [] and validate_with(data_dir, "other", [], codebook) == []
    split = assign_splits(passages)
    assert {split[r["article_id"]] for r in rows} == {"train"}
    with pytest.raises(IngestError, match="lower-case"):
        write_new(data_dir, "Bad-Name", rows, codebook)


def test_cli_import_writes_the_file_and_the_rejects_report(codebook, data_dir, tmp_path, capsys):
    tasks = [make_task(1, TEXTS[0], [ann(1, result(codebook))], "a1"),
             make_task(2, "Too short to be a passage.", [ann(2, result(codebook))], "a2")]
    export = tmp_path / "export.json"
    export.write_text(json.dumps(tasks))
    rejects = tmp_path / "r.jsonl"
    args = ["--data-dir", str(data_dir), "annotate", "import", str(export), "--name", "b1",
            "--realdev", str(TINY_REALDEV), "--rejects", str(rejects)]
    assert labels_main(args) == 0
    out = capsys.readouterr().out
    assert "1 passages accepted, 1 rejected" in out and "rejected task 2" in out
    assert [json.loads(x)["task"] for x in rejects.read_text().splitlines()] == [2]
    assert [json.loads(x)["id"] for x in (data_dir / "b1.jsonl").read_text().splitlines()] == ["ann-b1-a001-01"]
    assert labels_main(args) == 2  # the name is taken: refused before anything is read
    assert labels_main(["--data-dir", str(data_dir), "validate"]) == 0
    only_rejects = tmp_path / "e2.json"
    only_rejects.write_text(json.dumps(tasks[1:]))
    assert labels_main([*args[:4], str(only_rejects), "--name", "b2", *args[7:]]) == 1
    assert not (data_dir / "b2.jsonl").exists()
