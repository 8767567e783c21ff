"""Training the TF-IDF baseline (``stance_model.families.tfidf``): word and character n-gram
vectorisers fitted on the training split, logistic-regression heads on top."""

from __future__ import annotations

from collections.abc import Sequence

from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer

from labels.codebook import Codebook
from stance_model.families.tfidf import TfidfModel
from stance_model.heads import LogRegHeads
from training.config import ExperimentConfig
from training.data import TaskData
from training.models.base import Classifier, EpochCallback, model_spec
from training.models.heads import fit_heads


def vectorizers(word_cap: int | None, char_cap: int | None) -> tuple[TfidfVectorizer, TfidfVectorizer]:
    """The word 1-2-gram and character 3-5-gram vectorisers (what ``stance_model.tfidf_arrays`` re-does)."""
    word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, max_features=word_cap,
                           strip_accents="unicode", lowercase=True)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=2,
                           max_features=char_cap, lowercase=True)
    return word, char


class TfidfClassifier(TfidfModel, Classifier):
    def __init__(self, codebook: Codebook, config: ExperimentConfig) -> None:
        super().__init__(codebook, model_spec(config))
        self.config = config
        cap = config.model.tfidf_max_features
        self.word, self.char = vectorizers(cap, cap)
        self.heads = LogRegHeads(codebook, config.model.logreg_c, config.train.class_weighting, config.train.seed)

    def _fit_features(self, texts: Sequence[str]):
        return hstack([self.word.fit_transform(texts), self.char.fit_transform(texts)]).tocsr()

    def fit(self, train: TaskData, validation: TaskData, on_epoch: EpochCallback | None = None) -> None:
        fit_heads(self.heads, self._fit_features(train.texts), train)
