"""Train the ``in_scope`` detector (``stance_model.scope``) and measure it.

In scope: the corpus's training passages, framed or not. Out of scope: project-written news on other
subjects in ``labels/offtopic/`` (see its README); the files of ``TRAIN_FILES`` train, the file
``HELD_OUT`` (another writer, another register) only measures, as do the test split and realdev.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.sparse import hstack
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from labels.codebook import Codebook
from stance_model.predictor import Predictor
from stance_model.project import REPO_ROOT
from stance_model.scope import CUT, VALIDATION_KEPT, ScopeDetector
from stance_model.tfidf_arrays import describe_vectorizer
from training.data import TaskData, to_task_data
from training.models.tfidf import vectorizers

log = logging.getLogger(__name__)

OFFTOPIC_DIR = REPO_ROOT / "labels" / "offtopic"
TRAIN_FILES = ("a.jsonl", "b.jsonl")
HELD_OUT = "c.jsonl"


class OfftopicError(ValueError):
    """An off-topic file is missing or malformed; the message names the file and line."""


def load_offtopic(path: Path) -> list[dict]:
    """The records of one off-topic JSONL file (``id``, ``text``, ``topic``, ``hard``)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise OfftopicError(f"{path}: unreadable: {exc}") from exc
    out, seen = [], set()
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise OfftopicError(f"{path}:{n}: not JSON: {exc.msg}") from None
        if not isinstance(rec, dict) or not isinstance(rec.get("text"), str) or not rec["text"].strip():
            raise OfftopicError(f"{path}:{n}: each line needs a non-empty 'text' string")
        if rec.get("id") in seen:
            raise OfftopicError(f"{path}:{n}: duplicate id {rec.get('id')!r}")
        seen.add(rec.get("id"))
        out.append(rec)
    return out


def load_offtopic_folder(setting: str) -> tuple[list[str], list[dict]] | None:
    """The off-topic news per ``data.offtopic`` (``auto``: the packaged folder, if present; ``off``;
    or a folder): the texts that train and the held-out records, or ``None``. Raises
    ``OfftopicError`` on a missing or malformed file."""
    if setting == "off":
        return None
    path = OFFTOPIC_DIR if setting == "auto" else Path(setting)
    if not path.is_dir():
        if setting == "auto":
            log.warning("no off-topic news at %s: this model has no in_scope detector", path)
            return None
        raise OfftopicError(f"data.offtopic: {path} is not a folder")
    missing = [f for f in (*TRAIN_FILES, HELD_OUT) if not (path / f).is_file()]
    if missing:
        raise OfftopicError(f"data.offtopic: {path} lacks {missing}")
    return [r["text"] for f in TRAIN_FILES for r in load_offtopic(path / f)], load_offtopic(path / HELD_OUT)


def as_task_data(records: list[dict], codebook: Codebook) -> TaskData:
    """Off-topic passages with their known labels: no frame, neutral toward every target."""
    neutral = dict.fromkeys(codebook.target_ids, "neutral")
    return to_task_data({"id": [r.get("id", str(i)) for i, r in enumerate(records)],
                         "text": [r["text"] for r in records], "frames": [[] for _ in records],
                         "stance": [neutral for _ in records]}, codebook)


FEATURES_C, TFIDF_C = 8.0, 4.0
"""Inverse regularisation of the two detectors' regressions, chosen training on one off-topic file
and measuring on the other (``a.jsonl`` and ``b.jsonl``, both ways), never on the held-out file."""

Featurize = Callable[[list[str]], "np.ndarray | None"]


def _regression(x, y, c: float, seed: int) -> LogisticRegression:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LogisticRegression(C=c, class_weight="balanced", max_iter=3000, random_state=seed).fit(x, y)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def fit_scope(in_scope: list[str], out_of_scope: list[str], validation: tuple[list[str], np.ndarray | None],
              featurize: Featurize, seed: int, in_scope_features: np.ndarray | None = None) -> ScopeDetector:
    """A balanced logistic regression, in scope against out of scope, on the model's passage
    features when ``featurize`` gives them (for ``in_scope``: ``in_scope_features`` when given),
    else on word 1-2-gram and character 3-5-gram TF-IDF; its intercept then moved so that ``CUT``
    keeps ``VALIDATION_KEPT`` of ``validation`` (texts, features) in scope."""
    if in_scope_features is not None and len(in_scope_features) != len(in_scope):
        raise ValueError(f"{len(in_scope_features)} in-scope feature rows for {len(in_scope)} passages")
    y = np.array([1] * len(in_scope) + [0] * len(out_of_scope))
    x_in = in_scope_features if in_scope_features is not None else featurize(list(in_scope))
    if x_in is not None:
        x = _unit(np.vstack([x_in, featurize(list(out_of_scope))]).astype(np.float64))
        lr = _regression(x, y, FEATURES_C, seed)
        spec: dict = {"kind": "features"}
        arrays = {"coef": lr.coef_[0].astype(np.float64)}
    else:
        word, char = vectorizers(20000, 30000)
        texts = list(in_scope) + list(out_of_scope)
        lr = _regression(hstack([word.fit_transform(texts), char.fit_transform(texts)]).tocsr(), y, TFIDF_C, seed)
        (wspec, widf), (cspec, cidf) = describe_vectorizer(word), describe_vectorizer(char)
        spec = {"kind": "tfidf", "vectorizers": {"word": wspec, "char": cspec}}
        arrays = {"word_idf": widf, "char_idf": cidf, "coef": lr.coef_[0].astype(np.float64)}
    arrays["intercept"] = np.asarray(lr.intercept_[0], dtype=np.float64)
    spec.update(cut=CUT, validation_kept=VALIDATION_KEPT,
                trained_on={"in_scope": len(in_scope), "out_of_scope": len(out_of_scope)})
    detector = ScopeDetector(spec, arrays)
    z = detector.decision(*validation)
    arrays["intercept"] = arrays["intercept"] - np.quantile(z, 1 - VALIDATION_KEPT, method="lower")
    return detector


def scope_figures(detector: ScopeDetector, in_scope_sets: dict[str, tuple[list[str], np.ndarray | None]],
                  held_out: list[dict], featurize: Featurize) -> dict[str, float]:
    """``scope_<set>_in_scope_rate`` for each in-scope set (texts, features), the held-out off-topic
    news's ``scope_offtopic_out_of_scope_rate`` (and of its hard cases, which use the war's words in
    other senses), and the ROC AUC of each in-scope set against it."""
    out: dict[str, float] = {}
    texts = [r["text"] for r in held_out]
    off = detector.scores(texts, featurize(texts))
    out["scope_offtopic_out_of_scope_rate"] = float((off < CUT).mean())
    hard = np.array([bool(r.get("hard")) for r in held_out])
    if hard.any():
        out["scope_offtopic_hard_out_of_scope_rate"] = float((off[hard] < CUT).mean())
    for name, (texts, features) in in_scope_sets.items():
        got = detector.scores(texts, features)
        out[f"scope_{name}_in_scope_rate"] = float((got >= CUT).mean())
        out[f"scope_{name}_vs_offtopic_auc"] = float(roc_auc_score(np.r_[np.ones(len(got)), np.zeros(len(off))],
                                                                   np.r_[got, off]))
    return out


def train_scope(offtopic: tuple[list[str], list[dict]], train: list[str],
                splits: dict[str, tuple[list[str], np.ndarray | None]], featurize: Featurize,
                seed: int, train_features: np.ndarray | None = None) -> ScopeDetector:
    """Fit on the training texts (their features: ``train_features`` if the model kept them, else
    ``featurize``'s) against the off-topic training texts, the cut set on ``splits["validation"]``;
    the detector carries its figures on the other ``splits`` (in scope) and the held-out off-topic
    records. ``splits`` give each split's texts and the model's features."""
    out_of_scope, held_out = offtopic
    detector = fit_scope(train, out_of_scope, splits["validation"], featurize, seed, train_features)
    others = {k: v for k, v in splits.items() if k != "validation"}
    detector.spec["figures"] = scope_figures(detector, others, held_out, featurize)
    return detector


def measure_offtopic(predictor: Predictor, held_out: list[dict]) -> dict[str, float]:
    """What the classifier itself says about held-out off-topic news (gold: no frame, neutral):
    ``offtopic_frame_rate`` (share given any frame), ``offtopic_side_rate`` (share given a side on
    any target) and, with confidence thresholds, their confident shares."""
    data = as_task_data(held_out, predictor.codebook)
    scores = predictor.scores(data.texts)
    framed = predictor.decide_frames(scores.frames)
    sided = np.stack([p.argmax(1) != predictor.codebook.stance_labels.index("neutral") for p in scores.stance.values()], 1)
    out = {"offtopic_frame_rate": float(framed.any(1).mean()), "offtopic_side_rate": float(sided.any(1).mean())}
    sure = predictor.confident(framed, scores)
    if sure is not None:
        stance_sure = np.stack(list(sure["stance"].values()), 1)
        out["offtopic_confident_frame_rate"] = float((framed & sure["frames"]).any(1).mean())
        out["offtopic_confident_side_rate"] = float((sided & stance_sure).any(1).mean())
    return out
