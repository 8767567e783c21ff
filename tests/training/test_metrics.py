import numpy as np
import pytest

from training.metrics import evaluate_arrays, frame_metrics, stance_metrics
from training.thresholds import f1_at, tune_thresholds


def test_frame_metrics_known_values():
    y = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
    p = np.array([[1, 0], [0, 1], [0, 0], [1, 0]])
    m = frame_metrics(y, p, ["a", "b"])
    assert m["frame_a_precision"] == pytest.approx(0.5)
    assert m["frame_a_recall"] == pytest.approx(0.5)
    assert m["frame_b_precision"] == pytest.approx(1.0)
    assert m["frame_b_recall"] == pytest.approx(0.5)
    assert m["frame_b_f1"] == pytest.approx(2 / 3)
    assert m["frames_macro_f1"] == pytest.approx((0.5 + 2 / 3) / 2)


def test_stance_macro_f1_and_favg():
    labels = ("favor", "against", "neutral")
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([0, 1, 1, 1, 2, 0])
    m = stance_metrics(y, p, "t", labels)
    f_favor, f_against, f_neutral = 0.5, 0.8, 2 / 3
    assert m["stance_t_favor_f1"] == pytest.approx(f_favor)
    assert m["stance_t_against_f1"] == pytest.approx(f_against)
    assert m["stance_t_macro_f1"] == pytest.approx((f_favor + f_against + f_neutral) / 3)
    assert m["stance_t_favg"] == pytest.approx((f_favor + f_against) / 2)


def test_evaluate_arrays_prefixes_every_key(codebook):
    n = 4
    frames = np.zeros((n, 3))
    stance = {t: np.array([0, 1, 2, 2]) for t in codebook.target_ids}
    m = evaluate_arrays(codebook, frames, frames, stance, stance, prefix="test_")
    assert all(k.startswith("test_") for k in m)
    assert m["test_stance_macro_f1"] == pytest.approx(1.0)
    assert m["test_frames_macro_f1"] == 0.0  # no positives anywhere: F1 is 0, not undefined


def test_thresholds_maximise_validation_f1():
    y = np.array([[1], [1], [0], [0], [0]])
    s = np.array([[0.3], [0.35], [0.2], [0.1], [0.05]])
    thr = tune_thresholds(y, s, ["a"])["a"]
    assert 0.2 < thr <= 0.3
    assert f1_at(y[:, 0], s[:, 0], thr) == 1.0
    assert tune_thresholds(np.zeros((3, 1)), np.ones((3, 1)), ["a"]) == {"a": 0.5}
