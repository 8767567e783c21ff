"""The model families as trained; ``family_class`` maps a config's family name to its class. Each
extends its runtime class in ``stance_model.families`` with ``fit``."""

from __future__ import annotations

from stance_model.base import Scores
from training.models.base import Classifier


def family_class(name: str) -> type[Classifier]:
    """The trainable classifier class for a family name; raise ``ValueError`` for an unknown family."""
    if name == "tfidf":
        from training.models.tfidf import TfidfClassifier
        return TfidfClassifier
    if name == "embeddings":
        from training.models.embeddings import EmbeddingClassifier
        return EmbeddingClassifier
    if name == "finetune":
        from training.models.finetune import FinetuneClassifier
        return FinetuneClassifier
    raise ValueError(f"unknown model family {name!r}; expected tfidf, embeddings or finetune")


__all__ = ["Classifier", "Scores", "family_class"]
