"""The training workflow as named phases: load -> fit -> tune_thresholds -> evaluate -> log -> register.

Each phase is a small function that can be called alone; ``train`` runs them all inside one
MLflow run. Any failure or interruption ends the run as FAILED and registers nothing; the
version is registered last, after every artifact is written. A run whose process was killed
(SIGKILL cannot be caught) is marked FAILED by the next ``train`` on the same host.
"""

from __future__ import annotations

import copy
import json
import logging
import platform
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import version as pkg_version
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from sklearn.metrics import classification_report

from labels.codebook import Codebook, load_codebook
from labels.dataset import LoadedCorpus, load_corpus
from labels.splits import SplitConfig
from stance_model.encoder import INT8_APPLIED
from stance_model.onnx_runtime import ONNX_APPLIED
from stance_model.predictor import Predictor
from training import figures, scope, tracking
from training.confidence import confidence_metrics, fit_confidence
from training.config import ExperimentConfig
from training.data import TaskData, load_realdev_data, subsample_articles, to_task_data
from training.evaluation import evaluate, evaluate_with_interval, tune
from training.modelcard import model_card
from training.models import Classifier, Scores, family_class

log = logging.getLogger(__name__)

INPUT_EXAMPLE = [
    ("Kyiv will not trade land for a ceasefire, the foreign minister said, calling any freeze along "
    "the front line a pause that would let Moscow rearm."),
]


@dataclass
class Loaded:
    corpus: LoadedCorpus
    train: TaskData
    validation: TaskData
    test: TaskData
    realdev: TaskData | None = None
    realdev_digest: str | None = None

    def eval_splits(self) -> list[tuple[str, str, TaskData]]:
        """(name, metric prefix, data) of every split a trained model is scored on."""
        out = [("validation", "val_", self.validation), ("test", "test_", self.test)]
        return out + ([("realdev", "realdev_", self.realdev)] if self.realdev is not None else [])


@dataclass
class TrainResult:
    run_id: str
    metrics: dict[str, float]
    model_version: str | None
    model_uri: str | None


def load(config: ExperimentConfig) -> Loaded:
    """Phase ``load``: validate the corpus, split it and encode the splits with the codebook."""
    codebook = load_codebook(config.data.codebook)
    corpus = load_corpus(config.data.data_dir, codebook,
                         SplitConfig(seed=config.data.split_seed, holdout_group=config.data.holdout_group))
    train_ds = subsample_articles(corpus.splits["train"], config.data.train_fraction, config.data.split_seed)
    if len(train_ds) == 0:
        raise ValueError("the training split is empty after subsampling; raise data.train_fraction")
    realdev, realdev_digest = load_realdev_data(config.data.realdev, codebook)
    return Loaded(
        corpus=corpus,
        train=to_task_data(train_ds, codebook),
        validation=to_task_data(corpus.splits["validation"], codebook),
        test=to_task_data(corpus.splits["test"], codebook),
        realdev=realdev,
        realdev_digest=realdev_digest,
    )


def fit(config: ExperimentConfig, codebook: Codebook, data: Loaded) -> Classifier:
    """Phase ``fit``: build the configured family and train it, logging per-epoch metrics."""
    classifier = family_class(config.model.family)(codebook, config)

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        # per-epoch validation curves get their own keys: MLflow shows a key's latest step as its
        # value, and the final val_* metrics (best epoch, tuned thresholds) must not be shadowed
        tracking.log_metrics({k if k == "train_loss" else f"epoch_{k}": v for k, v in metrics.items()}, step=epoch)

    classifier.fit(data.train, data.validation, on_epoch=on_epoch)
    return classifier


def _report(codebook: Codebook, data: TaskData, predictor: Predictor, scores: Scores) -> str:
    pred = predictor.decide_frames(scores.frames).astype(int)
    parts = ["FRAMES\n" + classification_report(data.frames, pred, target_names=codebook.frame_ids, zero_division=0)]
    for t in codebook.target_ids:
        parts.append(f"STANCE {t}\n" + classification_report(
            data.stance[t], scores.stance[t].argmax(1), labels=list(range(len(codebook.stance_labels))),
            target_names=list(codebook.stance_labels), zero_division=0))
    return "\n".join(parts)


SUMMARY_KEYS = tuple(f"{split}_{task}_macro_f1" for split in ("val", "test", "realdev") for task in ("frames", "stance"))

INT8_TOLERANCE = 0.01
"""Largest loss of macro-F1 (frames or stance, on validation and on realdev) that int8 serving may cost."""

INT8_MAX_CHANGED = 0.03
"""Largest share of validation decisions (frame labels and stance labels) int8 may change from fp32."""


def changed_decisions(predictor: Predictor, a: Scores, b: Scores) -> float:
    """Share of decisions (every frame label, every target's stance label) that differ between ``a`` and ``b``."""

    frames = predictor.decide_frames(a.frames) != predictor.decide_frames(b.frames)
    stance = [a.stance[t].argmax(1) != b.stance[t].argmax(1) for t in a.stance]
    total = frames.size + sum(s.size for s in stance)
    return float((frames.sum() + sum(s.sum() for s in stance)) / max(total, 1))


def int8_check(predictor: Predictor, data: Loaded, metrics: dict[str, float],
               scores: dict[str, Scores]) -> dict[str, Any] | None:
    """Score an int8-quantised twin of the trained model, served as it would be, on every split.

    The result goes into the saved model: the service quantises only a model whose macro-F1 fell by
    at most ``INT8_TOLERANCE`` on validation and on realdev (a gain is never a reason to refuse) and
    whose validation decisions changed from fp32 in at most ``INT8_MAX_CHANGED`` of cases. ``None``
    for families without an encoder. ``scores``: the fp32 model's, by split name.
    """
    twin = Predictor(copy.deepcopy(predictor.classifier), predictor.codebook, predictor.thresholds)
    applied = twin.classifier.optimize_for_inference(int8=True)
    if not any(a in applied for a in (INT8_APPLIED, ONNX_APPLIED)):
        return None
    out: dict[str, Any] = {"tolerance": INT8_TOLERANCE, "max_changed": INT8_MAX_CHANGED, "runtime": applied[-1]}
    for split, prefix, d in data.eval_splits():
        m, got = evaluate(twin, d, prefix)
        for key in ("frames_macro_f1", "stance_macro_f1"):
            out[f"{prefix}{key}"] = m[prefix + key]
            out[f"{prefix}{key}_delta"] = m[prefix + key] - metrics[prefix + key]
        out[f"{prefix}changed_decisions"] = changed_decisions(predictor, scores[split], got)
    gated = [p for p in ("val_", "realdev_") if f"{p}frames_macro_f1_delta" in out]
    worst = min(out[f"{p}{k}_delta"] for p in gated for k in ("frames_macro_f1", "stance_macro_f1"))
    out["ok"] = worst >= -INT8_TOLERANCE and out["val_changed_decisions"] <= INT8_MAX_CHANGED
    log.info("int8 check: worst macro-F1 change %+.4f (validation%s), validation decisions changed %.2f%% -> %s",
             worst, " and realdev" if len(gated) > 1 else "", 100 * out["val_changed_decisions"],
             "ok" if out["ok"] else "int8 will not be served")
    return out


def requirements() -> list[str]:
    pins = ["torch==2.13.0"]
    for pkg in ("transformers", "scikit-learn", "numpy", "pandas", "pyyaml", "mlflow", "datasets", "scipy", "onnxruntime"):
        try:
            pins.append(f"{pkg}=={pkg_version(pkg)}")
        except Exception:  # noqa: BLE001 - optional package
            pins.append(pkg)
    return pins


def log_evaluation(predictor: Predictor, data: Loaded, scores: dict[str, Scores]) -> None:
    """Phase ``log``: figures and classification reports for every evaluated split (``scores`` by
    split name), and realdev's per-passage answers for error analysis."""
    codebook = predictor.codebook
    for split, _, d in data.eval_splits():
        s = scores[split]
        pred = predictor.decide_frames(s.frames).astype(int)
        fig = figures.confusion_figure(codebook, d.frames, pred, d.stance, s.stance_argmax(), split)
        tracking.log_figure(fig, f"figures/confusion_{split}.png")
        plt.close(fig)
        fig = figures.pr_figure(codebook, d.frames, s.frames, split)
        tracking.log_figure(fig, f"figures/precision_recall_{split}.png")
        plt.close(fig)
        tracking.log_text(_report(codebook, d, predictor, s), f"reports/classification_report_{split}.txt")
    if data.realdev is not None:
        tracking.log_text(answers_jsonl(predictor, data.realdev, scores["realdev"]), "reports/realdev_predictions.jsonl")
    fig = figures.threshold_figure(codebook, data.validation.frames, scores["validation"].frames, predictor.thresholds,
                                   predictor.classifier.threshold_grid())
    tracking.log_figure(fig, "figures/thresholds_validation.png")
    plt.close(fig)


def answers_jsonl(predictor: Predictor, data: TaskData, scores: Scores) -> str:
    """One JSON line per passage: text, gold and predicted frames and stance, stance class scores."""
    codebook = predictor.codebook
    pred = predictor.decide_frames(scores.frames).astype(int)
    lines = []
    for i, pid in enumerate(data.ids):
        lines.append(json.dumps({
            "id": pid, "text": data.texts[i],
            "frames": [f for j, f in enumerate(codebook.frame_ids) if data.frames[i, j]],
            "pred_frames": [f for j, f in enumerate(codebook.frame_ids) if pred[i, j]],
            "frame_scores": {f: round(float(scores.frames[i, j]), 4) for j, f in enumerate(codebook.frame_ids)},
            "stance": {t: codebook.stance_labels[int(data.stance[t][i])] for t in codebook.target_ids},
            "pred_stance": {t: codebook.stance_labels[int(scores.stance[t][i].argmax())] for t in codebook.target_ids},
            "stance_scores": {t: dict(zip(codebook.stance_labels, (round(float(x), 4) for x in scores.stance[t][i]),
                                          strict=True)) for t in codebook.target_ids},
        }, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def train(config: ExperimentConfig) -> TrainResult:
    """Run every phase in one MLflow run and return its id, metrics and registered version.

    Raises ``ConfigError``/``CodebookError``/``CorpusError`` on bad input before any run starts,
    and ``tracking.ArtifactStoreError`` if the artifact store cannot be written (the run ends FAILED).
    """
    tracking.configure()
    experiment_id = tracking.ensure_experiment(config.tracking.experiment)
    tracking.fail_dead_runs(experiment_id)
    started = time.perf_counter()
    data = load(config)
    offtopic = scope.load_offtopic_folder(config.data.offtopic)
    codebook = data.corpus.codebook
    run_name = config.tracking.run_name or f"{config.model.family}-{time.strftime('%Y%m%d-%H%M%S')}"
    tags = {"family": config.model.family, "codebook_version": codebook.version,
            "codebook_sha256": codebook.sha256, "corpus_digest": data.corpus.digest,
            **tracking.git_info(), **config.tracking.tags}
    with tracking.training_run(experiment_id, run_name, tags, nested=tracking.in_run()) as run:  # nested in a sweep
        tracking.log_params(config.params())
        tracking.log_params({"codebook.version": codebook.version, "corpus.digest": data.corpus.digest[:16],
                           "corpus.train_passages": len(data.train), "python": platform.python_version()})
        with tracking.writing_artifacts():
            tracking.log_dict(config.to_dict(), "config/resolved_config.yaml")
        for split in ("train", "validation", "test"):
            frame = data.corpus.splits[split].to_pandas()
            frame["frames"] = frame["frames"].map(lambda x: ",".join(x))
            frame["stance"] = frame["stance"].map(lambda d: ",".join(f"{k}={v}" for k, v in d.items()))
            tracking.log_dataset(frame, data.corpus.digest, "labels/data", split)

        t0 = time.perf_counter()
        classifier = fit(config, codebook, data)
        fit_seconds = time.perf_counter() - t0
        thresholds, val_scores = tune(config, classifier, data.validation)
        predictor = Predictor(classifier, codebook, thresholds,
                              meta={"corpus_digest": data.corpus.digest, "run_name": run_name})
        metrics: dict[str, float] = {}
        scores: dict[str, Scores] = {}
        for split, prefix, d in data.eval_splits():
            got, scores[split] = evaluate_with_interval(predictor, d, prefix, val_scores if split == "validation" else None)
            metrics.update(got)
        predictor.meta["confidence"] = fit_confidence(predictor, data.validation, scores["validation"])
        for split, prefix, d in data.eval_splits():
            metrics.update(confidence_metrics(predictor, d, scores[split], predictor.meta["confidence"], prefix))
        if offtopic is not None:
            splits = {split: (d.texts, scores[split].features) for split, _, d in data.eval_splits()}
            predictor.scope = scope.train_scope(offtopic, data.train.texts, splits,
                                                lambda texts: classifier.predict_scores(texts).features,
                                                config.train.seed, classifier.train_features)
            metrics.update(predictor.scope.figures)
            metrics.update(scope.measure_offtopic(predictor, offtopic[1]))
        if data.realdev is not None:
            tracking.set_tags({"realdev_digest": data.realdev_digest, "realdev_passages": len(data.realdev)})
        else:
            tracking.set_tags({"realdev": "absent"})
        metrics["fit_seconds"] = fit_seconds
        metrics.update(classifier.fit_metrics)
        check = int8_check(predictor, data, metrics, scores)
        if check is not None:
            predictor.meta["int8_check"] = check
            metrics.update({f"int8_{k}": v for k, v in check.items() if k.endswith(("_delta", "_changed_decisions"))})
            tracking.set_tags({"int8_ok": str(check["ok"]).lower()})
        tracking.log_metrics(metrics)
        # the predictor is staged in a temporary folder first: a full disk fails there or in the store
        with tracking.writing_artifacts(), tempfile.TemporaryDirectory(prefix="predictor-") as tmp:
            tracking.log_dict(thresholds, "model_thresholds.json")
            if config.tracking.log_figures:
                log_evaluation(predictor, data, scores)
            pdir = Path(tmp) / "predictor"
            predictor.meta["metrics"] = {k: v for k, v in metrics.items()
                                       if k.startswith(("val_", "test_", "realdev_", "scope_", "offtopic_"))}
            predictor.save(pdir)
            example = pd.DataFrame({"text": INPUT_EXAMPLE})
            output = predictor.predict_frame(INPUT_EXAMPLE)
            model_uri = tracking.log_predictor(pdir, example, output, requirements())
        version = None
        card = model_card(config.model.family, metrics, codebook, data.corpus.digest, config.params(),
                          {s: len(data.corpus.splits[s]) for s in ("train", "validation", "test")})
        tracking.describe_run(card)
        if config.tracking.register:
            vtags = {"family": config.model.family, "corpus_digest": data.corpus.digest,
                     "codebook_version": codebook.version, "run_id": run.info.run_id,
                     **({"realdev_digest": data.realdev_digest} if data.realdev_digest else {}),
                     **{k: f"{v:.4f}" for k, v in metrics.items() if k in SUMMARY_KEYS}}
            version = tracking.register(model_uri, config.tracking.registered_model, vtags, card)
            tracking.set_tags({"registered_version": version})
        tracking.log_metrics({"train_wall_seconds": time.perf_counter() - started})
    summary = {k: round(v, 4) for k, v in metrics.items() if k in SUMMARY_KEYS}
    log.info("run %s finished: %s; registered version %s", run.info.run_id, summary, version)
    return TrainResult(run.info.run_id, metrics, version, model_uri)


__all__ = ["TrainResult", "evaluate", "fit", "load", "train", "tune"]
