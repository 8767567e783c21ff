"""TF-IDF features with logistic-regression heads: the classic baseline."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import joblib
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer

from labels.codebook import Codebook
from training.config import ExperimentConfig
from training.data import TaskData
from training.models.base import Classifier, EpochCallback, Scores
from training.models.heads import LogRegHeads
from training.models.tfidf_runtime import export


class TfidfClassifier(Classifier):
    family = "tfidf"

    def __init__(self, codebook: Codebook, config: ExperimentConfig) -> None:
        super().__init__(codebook, config)
        cap = config.model.tfidf_max_features
        self.word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, max_features=cap,
                                    strip_accents="unicode", lowercase=True)
        self.char = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=2,
                                    max_features=cap, lowercase=True)
        self.heads = LogRegHeads(codebook, config.model.logreg_c, config.train.class_weighting,
                                 config.train.seed)

    def _features(self, texts: Sequence[str], fit: bool = False):
        if fit:
            return hstack([self.word.fit_transform(texts), self.char.fit_transform(texts)]).tocsr()
        return hstack([self.word.transform(texts), self.char.transform(texts)]).tocsr()

    def fit(self, train: TaskData, validation: TaskData, on_epoch: EpochCallback | None = None) -> None:
        self.heads.fit(self._features(train.texts, fit=True), train)

    def predict_scores(self, texts: Sequence[str], targets: Sequence[str] | None = None) -> Scores:
        x = self._features(list(texts))
        targets = list(targets) if targets is not None else self.codebook.target_ids
        return Scores(frames=self.heads.frames(x), stance={t: self.heads.stance(x, t) for t in targets})

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        joblib.dump({"word": self.word, "char": self.char, "heads": self.heads}, path / "tfidf.joblib")
        export(self, path)  # the same model as arrays, for serving without scikit-learn

    @classmethod
    def load(cls, path: Path, codebook: Codebook, config: ExperimentConfig) -> TfidfClassifier:
        obj = cls(codebook, config)
        parts = joblib.load(path / "tfidf.joblib")
        obj.word, obj.char, obj.heads = parts["word"], parts["char"], parts["heads"]
        obj.heads.codebook = codebook
        return obj
