import numpy as np
import pytest

from training.metrics import bootstrap_intervals, evaluate_arrays, frame_metrics, stance_metrics
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


def test_bootstrap_interval_brackets_the_point_estimate_and_narrows_with_size(codebook):
    rng = np.random.default_rng(0)

    def data(n):
        frames_true = rng.integers(0, 2, size=(n, 3))
        frames_pred = np.where(rng.random((n, 3)) < 0.8, frames_true, 1 - frames_true)
        stance_true = {t: rng.integers(0, 3, size=n) for t in codebook.target_ids}
        stance_pred = {t: np.where(rng.random(n) < 0.7, y, rng.integers(0, 3, size=n)) for t, y in stance_true.items()}
        return frames_true, frames_pred, stance_true, stance_pred

    small, large = data(90), data(2000)
    point = evaluate_arrays(codebook, *small, prefix="rd_")
    ci = bootstrap_intervals(codebook, *small, prefix="rd_")
    ci_large = bootstrap_intervals(codebook, *large, prefix="rd_")
    for key in ("frames_macro_f1", "stance_macro_f1"):
        assert ci[f"rd_{key}_ci_low"] < point[f"rd_{key}"] < ci[f"rd_{key}_ci_high"]
        width = ci[f"rd_{key}_ci_high"] - ci[f"rd_{key}_ci_low"]
        assert 0.02 < width < 0.3
        assert ci_large[f"rd_{key}_ci_high"] - ci_large[f"rd_{key}_ci_low"] < width / 2
    # perfect predictions: a degenerate interval at 1.0
    perfect = bootstrap_intervals(codebook, small[0], small[0], small[2], small[2], prefix="")
    assert perfect["stance_macro_f1_ci_low"] == perfect["stance_macro_f1_ci_high"] == 1.0
