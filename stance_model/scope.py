"""Whether a passage is about the war and European security at all: the ``in_scope`` score.

A logistic regression trained with the model (``training.scope``): the corpus's training passages,
framed or not, in scope; project-written news on other subjects (``labels/offtopic/``) out. It
reads what the model already computes where it can: the passage features of the encoder families
(the fine-tune's pooled passage vector, the embeddings family's sentence embedding), so scoring
costs one dot product per passage. The TF-IDF family has no features; its detector reads word and
character TF-IDF of the text instead, scored with NumPy like the TF-IDF runtime. The intercept is
set so that 0.5 is the cut that keeps ``VALIDATION_KEPT`` of the corpus's validation passages in
scope. It is saved in the model's ``scope/`` folder as arrays.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stance_model.tfidf_arrays import Vectorizer, joint_rows

FOLDER, ARRAYS, SPEC = "scope", "scope.npz", "scope.json"
CUT = 0.5
"""A passage scoring under this is out of scope."""
VALIDATION_KEPT = 0.99
"""Share of the corpus's validation passages the cut keeps in scope."""


class ScopeDetector:
    def __init__(self, spec: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        if spec.get("kind") not in ("features", "tfidf"):
            raise ValueError(f"unknown scope detector kind {spec.get('kind')!r}")
        self.spec = spec
        self.arrays = arrays
        if spec["kind"] == "tfidf":
            self.word = Vectorizer(spec["vectorizers"]["word"], arrays["word_idf"])
            self.char = Vectorizer(spec["vectorizers"]["char"], arrays["char_idf"])

    @property
    def kind(self) -> str:
        return self.spec["kind"]

    @property
    def figures(self) -> dict[str, float]:
        """What training measured (``training.scope.scope_figures``)."""
        return dict(self.spec.get("figures", {}))

    def decision(self, texts: Sequence[str], features: np.ndarray | None) -> np.ndarray | None:
        """The logistic decision value per text (0 at the cut); ``None`` when a features detector
        gets no features."""
        coef, intercept = self.arrays["coef"], float(self.arrays["intercept"])
        if self.kind == "features":
            if features is None:
                return None
            x = np.asarray(features, dtype=np.float64)
            x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
            return x @ coef + intercept
        rows = joint_rows(self.word, self.char, list(texts))
        return np.array([coef[idx] @ w for idx, w in rows], dtype=np.float64).reshape(len(texts)) + intercept

    def scores(self, texts: Sequence[str], features: np.ndarray | None = None) -> np.ndarray | None:
        """In-scope score of each text in [0, 1], under ``CUT`` out of scope; ``None`` without the
        features a features detector reads."""
        z = self.decision(texts, features)
        return None if z is None else 1.0 / (1.0 + np.exp(-z))

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        np.savez(path / ARRAYS, **self.arrays)
        (path / SPEC).write_text(json.dumps(self.spec))

    @classmethod
    def load(cls, path: Path) -> ScopeDetector | None:
        """The detector saved in ``path``, or ``None`` for a model saved without one."""
        if not (path / SPEC).is_file():
            return None
        try:
            spec = json.loads((path / SPEC).read_text())
            with np.load(path / ARRAYS) as z:
                arrays = {k: z[k] for k in z.files}
            return cls(spec, arrays)
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"{path} holds an unreadable scope detector: {exc}") from exc
