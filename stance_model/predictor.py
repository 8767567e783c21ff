"""A trained classifier bundled with its thresholds and codebook: what gets saved and served.

The folder a ``Predictor`` saves is self-contained: the codebook it was trained with, the
per-frame thresholds, the model's spec (``stance_model.spec``) and the family's weights. A
prediction never depends on outside state.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from labels.codebook import Codebook, parse_codebook
from stance_model.base import Model, Scores
from stance_model.families import family_class
from stance_model.scope import FOLDER as SCOPE_FOLDER
from stance_model.scope import ScopeDetector
from stance_model.spec import ModelSpec, SpecError

if TYPE_CHECKING:
    import pandas as pd

FORMAT_VERSION = 1
QUANTISABLE = ("finetune", "embeddings")
"""Families with a transformer encoder, which int8 applies to."""


SELF_CHECK_FILE = "selfcheck.json"
SELF_CHECK_TEXTS = (
    ("Diplomats in Brussels said a written promise of allied defence for Kyiv was still the only guarantee "
    "that would stop the next invasion."),
    "The draft would leave the occupied districts under Moscow's control in exchange for a ceasefire line.",
    "Officials warned that sending longer-range missiles risked dragging the alliance into direct war.",
    "The city council approved a new budget for school repairs on Tuesday.",
)
"""Passages scored at training (fp32) and again whenever the model is loaded: damaged weights or a
broken runtime show up as different or non-finite scores before anything is served."""


class UnknownTargetError(ValueError):
    """A requested stance target is not in the model's codebook."""


SELF_CHECK_TOLERANCE = 1e-3
"""Largest score difference from the scores stored at training by the same runtime (fp32 batches
differ by about 1e-6, int8 graphs across CPUs by the rounding of their fp32 parts)."""

QUANTISED_TOLERANCE = 0.25
"""Largest difference of a quantised model from the fp32 scores, for models stored without int8 scores."""


class SelfCheckFailed(RuntimeError):
    """The loaded model does not reproduce the scores stored when it was trained, or gives non-finite ones."""


class NonFiniteScores(RuntimeError):
    """The model produced a NaN or infinite score: an error, never a result."""


def score_rows(scores: Scores) -> np.ndarray:
    """Every score of every passage side by side, (n, frames + targets x labels)."""
    return np.concatenate([scores.frames, *(scores.stance[t] for t in sorted(scores.stance))], axis=1)


def decision_probabilities(decided: np.ndarray, scores: Scores) -> dict[str, Any]:
    """The calibrated probability of each decision: a frame's score when the frame is given, one
    minus it when not (n, frames); the winning class's score per stance target (n,)."""
    return {"frames": np.where(decided, scores.frames, 1.0 - scores.frames),
            "stance": {t: p.max(axis=1) for t, p in scores.stance.items()}}


def flatten_result(result: dict[str, Any]) -> dict[str, Any]:
    """One nested passage result as a flat row: ``frame.<id>.score|label``, ``stance.<id>.label|<class>``."""
    row: dict[str, Any] = {}
    for f, v in result["frames"].items():
        row[f"frame.{f}.score"] = v["score"]
        row[f"frame.{f}.label"] = v["label"]
    for t, v in result["stance"].items():
        row[f"stance.{t}.label"] = v["label"]
        for lab, score in v["scores"].items():
            row[f"stance.{t}.{lab}"] = score
    return row


@dataclass
class Predictor:
    classifier: Model
    codebook: Codebook
    thresholds: dict[str, float]
    meta: dict[str, Any] = field(default_factory=dict)
    reference: dict[str, Any] | None = None  # scores of SELF_CHECK_TEXTS at training (``selfcheck.json``)
    scope: ScopeDetector | None = None  # the in_scope detector (``stance_model.scope``), if trained with one

    @property
    def quantised(self) -> bool:
        return any("int8" in a and not a.startswith("int8 not applied")
                   for a in self.meta.get("inference_optimizations", []))

    def reference_scores(self) -> dict[str, Any]:
        """Scores of ``SELF_CHECK_TEXTS`` now, in the form saved as ``selfcheck.json``; with an int8
        graph, also that graph's scores (``int8``), so a model served in int8 is checked against them."""
        def table(s: Scores) -> dict[str, Any]:
            return {"frames": s.frames.tolist(), "stance": {t: p.tolist() for t, p in s.stance.items()}}

        out = {"texts": list(SELF_CHECK_TEXTS), **table(self.scores(SELF_CHECK_TEXTS))}
        if getattr(self.classifier, "int8_graph", None) is not None:
            twin = copy.copy(self.classifier)  # its own runner; the torch model stays with this one
            if any("int8" in a for a in twin.optimize_for_inference(int8=True)):
                out["int8"] = table(twin.predict_scores(list(SELF_CHECK_TEXTS), self.codebook.target_ids))
        return out

    def self_check(self) -> dict[str, Any]:
        """Score the self-check passages with the model as it will serve; raise ``SelfCheckFailed`` on
        a non-finite score, or on a difference from the scores stored at training (if the model has
        them) above ``SELF_CHECK_TOLERANCE`` of the same runtime (``QUANTISED_TOLERANCE`` when only
        fp32 scores were stored for a quantised model)."""
        ref = self.reference
        texts = list(ref["texts"]) if ref else list(SELF_CHECK_TEXTS)
        got = score_rows(self.scores(texts))
        if not np.isfinite(got).all():
            raise SelfCheckFailed(f"{int((~np.isfinite(got)).sum())} non-finite score(s) on {len(texts)} fixed passages")
        out: dict[str, Any] = {"passages": len(texts), "reference": None}
        if ref:
            runtime = "int8" if self.quantised and "int8" in ref else "fp32"
            tolerance = QUANTISED_TOLERANCE if self.quantised and runtime == "fp32" else SELF_CHECK_TOLERANCE
            table = ref[runtime] if runtime == "int8" else ref
            want = score_rows(Scores(frames=np.asarray(table["frames"], dtype=np.float32),
                                      stance={t: np.asarray(v, dtype=np.float32) for t, v in table["stance"].items()}))
            if want.shape != got.shape:
                raise SelfCheckFailed(f"stored scores have shape {want.shape}, the model gives {got.shape}")
            diff = float(np.abs(want - got).max())
            out.update(reference=runtime, tolerance=tolerance, max_abs_diff=round(diff, 8))
            if diff > tolerance:
                raise SelfCheckFailed(f"scores differ from the {runtime} scores stored at training by up to "
                                      f"{diff:.4g} (tolerance {tolerance:g})")
        return out

    def optimize_for_inference(self, int8: bool = False) -> list[str]:
        """Speed up prediction in place (see ``Classifier.optimize_for_inference``); return what was applied.

        int8 is applied only to a model whose training run checked it (``meta["int8_check"]``, see
        the training run's int8 check) and passed; otherwise the reason is returned."""
        refused = None
        if int8:
            check = self.meta.get("int8_check")
            if not check:
                refused = ("int8 not applied: int8 does not apply to this model's family" if self.classifier.family
                           not in QUANTISABLE else "int8 not applied: the model carries no int8 check")
            elif not check.get("ok"):
                deltas = ", ".join(f"{k.removesuffix('_macro_f1_delta')} {v:+.4f}" for k, v in sorted(check.items())
                                   if k.endswith("_macro_f1_delta") and k.startswith(("val_", "realdev_")))
                refused = (f"int8 not applied: macro-F1 changes {deltas}; validation decisions changed "
                           f"{100 * check.get('val_changed_decisions', float('nan')):.2f}% (allowed: a loss of at "
                           f"most {check['tolerance']}, at most {100 * check.get('max_changed', float('nan')):.0f}% "
                           "changed)")
        applied = self.classifier.optimize_for_inference(int8=int8 and refused is None)
        applied += [refused] if refused else []
        self.meta["inference_optimizations"] = applied
        return applied

    def check_targets(self, targets: Sequence[str] | None) -> list[str]:
        """The targets to score (default all); raise ``UnknownTargetError`` naming unknown ones."""
        if targets is None:
            return self.codebook.target_ids
        unknown = [t for t in targets if t not in self.codebook.target_ids]
        if unknown:
            raise UnknownTargetError(f"unknown target(s) {unknown}; this model knows {self.codebook.target_ids}")
        return list(dict.fromkeys(targets))

    def scores(self, texts: Sequence[str], targets: Sequence[str] | None = None) -> Scores:
        return self.classifier.predict_scores(list(texts), self.check_targets(targets))

    def decide_frames(self, frame_scores: np.ndarray) -> np.ndarray:
        thr = np.array([self.thresholds.get(f, 0.5) for f in self.codebook.frame_ids], dtype=np.float32)
        return frame_scores >= thr

    def confident(self, decisions: np.ndarray, scores: Scores) -> dict[str, Any] | None:
        """Whether each decision's probability reaches the threshold of its kind in
        ``meta["confidence"]`` (``training.confidence``: per frame for given and not given, per
        target per class, chosen on validation for a stated precision); ``None`` for a model
        trained without them."""
        conf = self.meta.get("confidence")
        if not conf:
            return None
        probs = decision_probabilities(decisions, scores)
        yes = np.array([conf["frames"][f]["yes"] for f in self.codebook.frame_ids], dtype=np.float32)
        no = np.array([conf["frames"][f]["no"] for f in self.codebook.frame_ids], dtype=np.float32)
        labels = self.codebook.stance_labels
        stance = {}
        for t, p in probs["stance"].items():
            per_class = np.array([conf["stance"][t][lab] for lab in labels], dtype=np.float32)
            stance[t] = p >= per_class[scores.stance[t].argmax(axis=1)]
        return {"frames": probs["frames"] >= np.where(decisions, yes, no), "stance": stance}

    def results(self, scores: Scores, in_scope: np.ndarray | None = None) -> list[dict[str, Any]]:
        """Nested results, one per passage: every frame's score, decision and confidence, each target's
        stance and confidence, and the passage's ``in_scope`` score (``None`` where the model has no
        confidence thresholds or scope detector)."""
        if not (np.isfinite(scores.frames).all() and all(np.isfinite(p).all() for p in scores.stance.values())):
            raise NonFiniteScores(f"the model produced a non-finite score on a batch of {scores.frames.shape[0]} "
                                  "passage(s)")
        decisions = self.decide_frames(scores.frames)
        sure = self.confident(decisions, scores)
        labels = self.codebook.stance_labels
        out = []
        for i in range(scores.frames.shape[0]):
            frames = {
                f: {"score": round(float(scores.frames[i, j]), 6), "label": bool(decisions[i, j]),
                    "confident": None if sure is None else bool(sure["frames"][i, j])}
                for j, f in enumerate(self.codebook.frame_ids)
            }
            stance = {}
            for t, probs in scores.stance.items():
                row = probs[i]
                stance[t] = {"label": labels[int(row.argmax())],
                             "scores": {lab: round(float(row[k]), 6) for k, lab in enumerate(labels)},
                             "confident": None if sure is None else bool(sure["stance"][t][i])}
            out.append({"frames": frames, "stance": stance,
                        "in_scope": None if in_scope is None else round(float(in_scope[i]), 6)})
        return out

    def predict(self, texts: Sequence[str], targets: Sequence[str] | None = None) -> list[dict[str, Any]]:
        scores = self.scores(texts, targets)
        in_scope = self.scope.scores(texts, scores.features) if self.scope is not None else None
        return self.results(scores, in_scope)

    def predict_frame(self, texts: Sequence[str], targets: Sequence[str] | None = None) -> pd.DataFrame:
        """Flat table, one row per passage (the MLflow pyfunc output)."""
        import pandas as pd  # not at import time: the service never builds frames, and pandas is ~60 MB

        rows = [flatten_result(res) for res in self.predict(texts, targets)]
        return pd.DataFrame(rows, columns=self.output_columns(targets))

    def output_columns(self, targets: Sequence[str] | None = None) -> list[str]:
        cols = []
        for f in self.codebook.frame_ids:
            cols += [f"frame.{f}.score", f"frame.{f}.label"]
        for t in self.check_targets(targets):
            cols.append(f"stance.{t}.label")
            cols += [f"stance.{t}.{lab}" for lab in self.codebook.stance_labels]
        return cols

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        (path / "codebook.yaml").write_text(self.codebook_text(), encoding="utf-8")
        (path / "thresholds.json").write_text(json.dumps(self.thresholds, indent=2, sort_keys=True))
        meta = {**self.meta, "format_version": FORMAT_VERSION, "family": self.classifier.family,
                "spec": self.classifier.spec.to_dict(), "codebook_version": self.codebook.version,
                "codebook_sha256": self.codebook.sha256}
        (path / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))
        self.classifier.save(path / "classifier")
        if self.scope is not None:
            self.scope.save(path / SCOPE_FOLDER)
        (path / SELF_CHECK_FILE).write_text(json.dumps(self.reference or self.reference_scores()))

    def codebook_text(self) -> str:
        if self.codebook.path and Path(self.codebook.path).is_file():
            return Path(self.codebook.path).read_text(encoding="utf-8")
        raise ValueError("the codebook's source file is not available to save with the model")

    @classmethod
    def load(cls, path: str | Path) -> Predictor:
        """Load a folder written by ``save``; raise ``ValueError`` if it is not a predictor."""
        path = Path(path)
        try:
            meta = json.loads((path / "meta.json").read_text())
            thresholds = json.loads((path / "thresholds.json").read_text())
            codebook = parse_codebook((path / "codebook.yaml").read_text(encoding="utf-8"),
                                      str(path / "codebook.yaml"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path} is not a saved stance-framing model: {exc}") from exc
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{path}: model format {meta.get('format_version')} is not {FORMAT_VERSION}")
        try:
            spec = ModelSpec.from_meta(meta)
        except SpecError as exc:
            raise ValueError(f"{path}: {exc}") from None
        classifier = family_class(spec.family).load(path / "classifier", codebook, spec)
        reference = None
        if (path / SELF_CHECK_FILE).is_file():
            try:
                reference = json.loads((path / SELF_CHECK_FILE).read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise ValueError(f"{path / SELF_CHECK_FILE} is unreadable: {exc}") from exc
        return cls(classifier=classifier, codebook=codebook, thresholds=thresholds, meta=meta, reference=reference,
                   scope=ScopeDetector.load(path / SCOPE_FOLDER))
