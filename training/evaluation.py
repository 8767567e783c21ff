"""Threshold tuning and evaluation: the phases shared by training, promotion, benchmarks and the
fine-tuning search. No MLflow here, so the search can run where only torch and scikit-learn are."""

from __future__ import annotations

from stance_model.predictor import Predictor
from training.config import ExperimentConfig
from training.data import TaskData
from training.metrics import bootstrap_intervals, evaluate_arrays
from training.models import Classifier, Scores
from training.thresholds import tune_thresholds


def tune(config: ExperimentConfig, classifier: Classifier, validation: TaskData) -> tuple[dict[str, float], Scores]:
    """Phase ``tune_thresholds``: per-frame thresholds that maximise validation F1."""
    scores = classifier.predict_scores(validation.texts)
    if config.train.tune_thresholds:
        thresholds = tune_thresholds(validation.frames, scores.frames, classifier.codebook.frame_ids,
                                     classifier.threshold_grid())
    else:
        thresholds = {f: 0.5 for f in classifier.codebook.frame_ids}
    return thresholds, scores


def evaluate(predictor: Predictor, data: TaskData, prefix: str, scores: Scores | None = None) -> tuple[dict[str, float], Scores]:
    """Phase ``evaluate``: flat metrics for one split (keys prefixed ``val_``/``test_``)."""
    scores = scores or predictor.scores(data.texts)
    metrics = evaluate_arrays(predictor.codebook, data.frames, predictor.decide_frames(scores.frames).astype(int),
                              data.stance, scores.stance_argmax(), prefix=prefix)
    return metrics, scores


def evaluate_with_interval(predictor: Predictor, data: TaskData, prefix: str,
                           scores: Scores | None = None) -> tuple[dict[str, float], Scores]:
    """``evaluate`` plus the 90% bootstrap interval of frames and stance macro-F1 (``*_ci_low``,
    ``*_ci_high``)."""
    metrics, scores = evaluate(predictor, data, prefix, scores)
    metrics.update(bootstrap_intervals(predictor.codebook, data.frames, predictor.decide_frames(scores.frames).astype(int),
                                       data.stance, scores.stance_argmax(), prefix))
    return metrics, scores
