"""The in_scope detector: trained on the corpus against off-topic news, scored without scikit-learn."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stance_model.scope import ScopeDetector
from training.scope import (
    HELD_OUT,
    OFFTOPIC_DIR,
    TRAIN_FILES,
    OfftopicError,
    load_offtopic,
    load_offtopic_folder,
    scope_figures,
)
from training.scope import fit_scope as fit

WAR = ["Kyiv asked allies for a binding guarantee before any ceasefire talks, officials said.",
       "Moscow warned that long-range missiles would make the alliance a party to the war.",
       "The draft would freeze the front line and leave occupied districts under Russian control.",
       "Ukraine's president ruled out giving up any territory in exchange for a truce.",
       "NATO ministers weighed whether to station troops on the eastern flank after the drone incursion.",
       "European leaders discussed a reassurance force that would deploy after a ceasefire in Ukraine."] * 4
OTHER = ["The city council approved a new budget for school repairs on Tuesday.",
         "Heavy rain is expected across the south-west this weekend, forecasters said.",
         "The striker scored twice as the home side won the cup final in extra time.",
         "Shares in the chipmaker rose after quarterly earnings beat forecasts.",
         "The bakery's new sourdough sold out within an hour of opening.",
         "Gym membership prices are escalating as energy bills climb, a survey found."] * 4


def test_packaged_offtopic_files_load_and_hold_out_a_writer():
    train, held_out = load_offtopic_folder("auto")
    assert len(train) == sum(len(load_offtopic(OFFTOPIC_DIR / f)) for f in TRAIN_FILES)
    assert held_out == load_offtopic(OFFTOPIC_DIR / HELD_OUT) and len(held_out) >= 100
    assert not set(train) & {r["text"] for r in held_out}
    banned = ("ukrain", "kyiv", "russia", "moscow", "nato", "kremlin", "putin", "zelensk", "crimea", "donbas")
    for text in train + [r["text"] for r in held_out]:
        assert not any(b in text.lower() for b in banned), text


def no_features(texts):
    return None


def test_text_detector_separates_and_survives_a_save_without_scikit_learn(tmp_path):
    det = fit(WAR, OTHER, (WAR[:6], None), no_features, seed=0)
    assert det.kind == "tfidf"
    war, other = det.scores(WAR[:6]), det.scores(OTHER[:6])
    assert (war >= 0.5).all() and (other < 0.5).all()
    det.save(tmp_path / "scope")
    again = ScopeDetector.load(tmp_path / "scope")
    np.testing.assert_allclose(again.scores(WAR[:6] + OTHER[:6]), det.scores(WAR[:6] + OTHER[:6]), rtol=1e-12)
    assert ScopeDetector.load(tmp_path / "nothing-here") is None
    figures = scope_figures(det, {"war": (WAR[:6], None)},
                            [{"text": t, "hard": i == 5} for i, t in enumerate(OTHER[:6])], no_features)
    assert figures["scope_war_in_scope_rate"] == 1.0 and figures["scope_offtopic_out_of_scope_rate"] == 1.0
    assert figures["scope_offtopic_hard_out_of_scope_rate"] == 1.0 and figures["scope_war_vs_offtopic_auc"] == 1.0


def test_features_detector_reads_the_model_features_and_sets_its_cut_on_validation():
    rng = np.random.default_rng(0)
    vectors = {}

    def featurize(texts):  # stand-in for an encoder: war passages near one direction, the rest near another
        out = []
        for t in texts:
            if t not in vectors:
                base = np.r_[1.0, 0.0, 0.0] if t in WAR or t.startswith("war") else np.r_[0.0, 1.0, 0.0]
                vectors[t] = base + rng.normal(0, 0.15, 3)
            out.append(vectors[t])
        return np.array(out)

    war = [f"war {i}" for i in range(200)]
    validation = [f"war v{i}" for i in range(100)]
    det = fit(war, [f"other {i}" for i in range(200)], (validation, featurize(validation)), featurize, seed=0)
    assert det.kind == "features"
    kept = det.scores(validation, featurize(validation)) >= 0.5
    assert kept.mean() == pytest.approx(0.99, abs=0.011)  # the cut keeps 99% of validation in scope
    others = [f"other x{i}" for i in range(100)]
    assert (det.scores(others, featurize(others)) < 0.5).mean() > 0.8
    assert det.scores(others, None) is None  # no features, no score: never a made-up one


@pytest.mark.parametrize("content, message", [
    ('{"id": "x", "text": "fine"}\nnot json\n', ":2: not JSON"),
    ('{"id": "x", "text": "  "}\n', ":1: each line needs a non-empty 'text'"),
    ('{"id": "x", "text": "a"}\n{"id": "x", "text": "b"}\n', ":2: duplicate id 'x'"),
])
def test_bad_offtopic_files_are_refused_naming_the_line(tmp_path, content, message):
    path = tmp_path / "a.jsonl"
    path.write_text(content)
    with pytest.raises(OfftopicError, match=message):
        load_offtopic(path)


def test_a_named_folder_must_exist_and_hold_every_file(tmp_path):
    with pytest.raises(OfftopicError, match="is not a folder"):
        load_offtopic_folder(str(tmp_path / "missing"))
    (tmp_path / "a.jsonl").write_text(json.dumps({"id": "a", "text": "x"}) + "\n")
    with pytest.raises(OfftopicError, match="lacks"):
        load_offtopic_folder(str(tmp_path))
    assert load_offtopic_folder("off") is None
