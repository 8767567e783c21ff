"""Confidence thresholds: chosen on validation for a stated precision, applied by the runtime."""

from __future__ import annotations

import numpy as np
import pytest

from stance_model.base import Scores
from stance_model.predictor import Predictor
from training.confidence import NEVER, confidence_metrics, fit_confidence, lowest_threshold
from training.data import TaskData


def test_lowest_threshold_reaches_the_precision_with_enough_support():
    # 100 decisions: those at 0.8 and above are all right, those below right half the time
    prob = np.r_[np.full(50, 0.85), np.full(50, 0.6)]
    correct = np.r_[np.ones(50, bool), np.arange(50) % 2 == 0]
    assert lowest_threshold(prob, correct, precision=0.9) == pytest.approx(0.61)
    assert lowest_threshold(prob, correct, precision=0.7) == 0.5  # 75% right over all 100
    # too few passages above any threshold that would be precise enough: never confident
    assert lowest_threshold(prob[45:], correct[45:], precision=0.9, min_support=20) == NEVER


class StubModel:
    family = "stub"


def predictor_with(codebook, meta=None) -> Predictor:
    return Predictor(StubModel(), codebook, dict.fromkeys(codebook.frame_ids, 0.5), meta=meta or {})


def scores_for(codebook, n, frame_p, stance_p):
    frames = np.tile(np.asarray(frame_p, dtype=np.float32), (n, 1))
    return Scores(frames=frames, stance={t: np.tile(np.asarray(stance_p, dtype=np.float32), (n, 1))
                                         for t in codebook.target_ids})


def test_fit_on_validation_then_flags_follow_the_thresholds(codebook):
    rng = np.random.default_rng(0)
    n = 400
    gold_frames = (rng.random((n, len(codebook.frame_ids))) < 0.3).astype(np.float32)
    # scores that are honest: near 0.95 where the frame is there, near 0.05 where not, a noisy band between
    noise = rng.random((n, len(codebook.frame_ids)))
    frame_scores = np.where(gold_frames == 1, 0.95, 0.05).astype(np.float32)
    frame_scores[noise < 0.2] = 0.55
    stance = {}
    gold_stance = {}
    for t in codebook.target_ids:
        gold_stance[t] = rng.integers(0, 3, n)
        p = np.full((n, 3), 0.05, dtype=np.float32)
        p[np.arange(n), gold_stance[t]] = 0.9
        flip = rng.random(n) < 0.3  # a third of passages: a weak, often wrong guess
        p[flip] = [0.4, 0.3, 0.3]
        stance[t] = p
    scores = Scores(frames=frame_scores, stance=stance)
    data = TaskData(ids=[str(i) for i in range(n)], texts=[""] * n, frames=gold_frames, stance=gold_stance)
    pred = predictor_with(codebook)
    conf = fit_confidence(pred, data, scores)
    assert conf["precision"] == 0.9
    # "given" decisions in the noisy band are right a third of the time: not confident; "not given" always right
    assert all(0.55 < v["yes"] <= 0.95 and v["no"] == 0.5 for v in conf["frames"].values())
    # weak favor guesses (0.4) are right a third of the time; against and neutral are only ever sure and right
    assert all(0.4 < v["favor"] <= 0.9 and v["against"] == v["neutral"] == 0.5 for v in conf["stance"].values())
    m = confidence_metrics(pred, data, scores, conf, "val_")
    assert m["val_confident_frames_precision"] >= 0.9 and m["val_confident_stance_precision"] >= 0.9
    assert m["val_confident_sides_precision"] >= 0.9
    assert 0.6 < m["val_confident_stance_coverage"] < 0.8

    pred.meta["confidence"] = conf
    out = pred.results(scores_for(codebook, 2, [0.97, 0.55, 0.02], [0.4, 0.3, 0.3]))
    frames = out[0]["frames"]
    assert [frames[f]["confident"] for f in codebook.frame_ids] == [True, False, True]
    assert all(s["confident"] is False for s in out[0]["stance"].values())
    assert out[0]["in_scope"] is None  # no scope detector on this model


def test_a_model_without_thresholds_says_null_not_false(codebook):
    out = predictor_with(codebook).results(scores_for(codebook, 1, [0.9, 0.1, 0.1], [0.9, 0.05, 0.05]))
    assert out[0]["frames"][codebook.frame_ids[0]]["confident"] is None
    assert all(s["confident"] is None for s in out[0]["stance"].values())
