"""The Label Studio interface generated from the codebook, and tasks carrying the model's answers."""

import xml.etree.ElementTree as ET

from labels.corpus import KINDS
from labels.studio import label_config, stance_control, task

ROW = {"passage_id": "pabc", "text": "Envoys weighed a freeze of the front line while Kyiv refused to cede land.",
       "origin": {"input": "in.jsonl", "article_id": "a1", "passage_index": 2}, "date": "2026-11-30",
       "answer": {}, "model": {"name": "sf-test", "version": "3", "run_id": "r1"}, "score": 0.25,
       "reason": "uncertainty 0.25: ...", "codebook_version": "1.2.0"}


def test_label_config_follows_the_codebook(codebook):
    view = ET.fromstring(label_config(codebook))
    controls = {c.get("name"): c for c in view.iter("Choices")}
    assert list(controls) == ["frames", *(stance_control(t) for t in codebook.target_ids), "kind"]
    frames = controls["frames"]
    assert frames.get("choice") == "multiple" and frames.get("required") is None
    assert [c.get("value") for c in frames] == codebook.frame_ids
    for f, choice in zip(codebook.frames, frames, strict=True):
        assert choice.get("hint").startswith(f"{f.name}: ") and " ".join(f.definition.split()) in choice.get("hint")
    for t in codebook.target_ids:
        c = controls[stance_control(t)]
        assert (c.get("choice"), c.get("required")) == ("single", "true")
        assert [x.get("value") for x in c] == list(codebook.stance_labels)
    assert [x.get("value") for x in controls["kind"]] == list(KINDS) and controls["kind"].get("required") == "true"
    (notes,) = view.iter("TextArea")
    assert notes.get("name") == "notes" and notes.get("required") is None
    assert {c.get("toName") for c in view if c.get("toName")} == {"text"}
    assert view.find("Text").get("value") == "$text"


def test_task_carries_the_pre_annotation_as_a_prediction(codebook):
    f0, t0, t1 = codebook.frame_ids[0], codebook.target_ids[0], codebook.target_ids[1]
    row = {**ROW, "pre_annotation": {"frames": [f0], "stance": {t0: "against", t1: "neutral"}}}
    got = task(row, codebook)
    assert got["data"]["text"] == ROW["text"] and got["data"]["passage_id"] == "pabc"
    assert got["data"]["date"] == "2026-11-30" and '"article_id": "a1"' in got["data"]["origin"]
    (pred,) = got["predictions"]
    assert pred["model_version"] == "sf-test/3" and pred["score"] == 0.75
    by_control = {r["from_name"]: r["value"]["choices"] for r in pred["result"]}
    assert by_control == {"frames": [f0], stance_control(t0): ["against"], stance_control(t1): ["neutral"]}
    assert all(r["to_name"] == "text" and r["type"] == "choices" for r in pred["result"])
    empty = task({**ROW, "pre_annotation": {"frames": [], "stance": {t0: "favor"}}}, codebook)
    assert [r["from_name"] for r in empty["predictions"][0]["result"]] == [stance_control(t0)]
