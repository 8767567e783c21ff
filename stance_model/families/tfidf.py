"""TF-IDF features with logistic-regression heads: the classic baseline, as saved by training."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import joblib

from labels.codebook import Codebook
from stance_model.base import Model, Scores
from stance_model.heads import LogRegHeads, load_pickle
from stance_model.spec import ModelSpec
from stance_model.tfidf_arrays import export

JOBLIB = "tfidf.joblib"


class TfidfModel(Model):
    family = "tfidf"

    def __init__(self, codebook: Codebook, spec: ModelSpec) -> None:
        super().__init__(codebook, spec)
        self.word: Any = None  # fitted scikit-learn vectorisers
        self.char: Any = None
        self.heads: LogRegHeads | None = None

    def _features(self, texts: Sequence[str]):
        from scipy.sparse import hstack

        return hstack([self.word.transform(texts), self.char.transform(texts)]).tocsr()

    def predict_scores(self, texts: Sequence[str], targets: Sequence[str] | None = None) -> Scores:
        return self.heads.scores(self._features(list(texts)), targets)

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        joblib.dump({"word": self.word, "char": self.char, "heads": self.heads}, path / JOBLIB)
        export(self, path)  # the same model as arrays, for serving without scikit-learn

    @classmethod
    def load(cls, path: Path, codebook: Codebook, spec: ModelSpec) -> TfidfModel:
        obj = cls(codebook, spec)
        parts = load_pickle(path / JOBLIB)
        obj.word, obj.char, obj.heads = parts["word"], parts["char"], parts["heads"]
        obj.heads.codebook = codebook
        return obj
