"""A trained classifier bundled with its thresholds and codebook: what gets saved and served.

The folder a ``Predictor`` saves is self-contained: the codebook it was trained with, the
per-frame thresholds, the resolved config and the family's weights. A prediction never
depends on outside state.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from labels.codebook import Codebook, parse_codebook
from training.config import build_config
from training.models import Classifier, Scores, family_class

if TYPE_CHECKING:
    import pandas as pd

FORMAT_VERSION = 1


class UnknownTargetError(ValueError):
    """A requested stance target is not in the model's codebook."""


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
    classifier: Classifier
    codebook: Codebook
    thresholds: dict[str, float]
    meta: dict[str, Any] = field(default_factory=dict)

    def optimize_for_inference(self, int8: bool = False) -> list[str]:
        """Speed up prediction in place (see ``Classifier.optimize_for_inference``); return what was applied.

        int8 is applied only to a model whose training run checked it (``meta["int8_check"]``) and
        found validation macro-F1 within the check's tolerance; otherwise the reason is returned."""
        refused = None
        if int8:
            check = self.meta.get("int8_check")
            if not check:
                refused = "int8 not applied: the model carries no int8 check (trained before the check existed)"
            elif not check.get("ok"):
                refused = (f"int8 not applied: validation macro-F1 moved by {check['val_frames_macro_f1_delta']:+.4f} "
                           f"(frames) / {check['val_stance_macro_f1_delta']:+.4f} (stance), "
                           f"over the tolerance {check['tolerance']}")
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

    def results(self, scores: Scores) -> list[dict[str, Any]]:
        """Nested results, one per passage: every frame's score and decision, each target's stance."""
        decisions = self.decide_frames(scores.frames)
        labels = self.codebook.stance_labels
        out = []
        for i in range(scores.frames.shape[0]):
            frames = {
                f: {"score": round(float(scores.frames[i, j]), 6), "label": bool(decisions[i, j])}
                for j, f in enumerate(self.codebook.frame_ids)
            }
            stance = {}
            for t, probs in scores.stance.items():
                row = probs[i]
                stance[t] = {"label": labels[int(row.argmax())],
                             "scores": {lab: round(float(row[k]), 6) for k, lab in enumerate(labels)}}
            out.append({"frames": frames, "stance": stance})
        return out

    def predict(self, texts: Sequence[str], targets: Sequence[str] | None = None) -> list[dict[str, Any]]:
        return self.results(self.scores(texts, targets))

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
                "config": self.classifier.config.to_dict(), "codebook_version": self.codebook.version,
                "codebook_sha256": self.codebook.sha256}
        (path / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))
        self.classifier.save(path / "classifier")

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
        config = build_config(meta["config"])
        classifier = family_class(meta["family"]).load(path / "classifier", codebook, config)
        return cls(classifier=classifier, codebook=codebook, thresholds=thresholds, meta=meta)
