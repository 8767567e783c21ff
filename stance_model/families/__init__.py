"""The model families at prediction time; ``family_class`` maps a saved family name to its class."""

from __future__ import annotations

from stance_model.base import Model


def family_class(name: str) -> type[Model]:
    """The model class for a family name; raise ``ValueError`` for an unknown family."""
    if name == "tfidf":
        from stance_model.families.tfidf import TfidfModel
        return TfidfModel
    if name == "embeddings":
        from stance_model.families.embeddings import EmbeddingModel
        return EmbeddingModel
    if name == "finetune":
        from stance_model.families.finetune import FinetuneModel
        return FinetuneModel
    raise ValueError(f"unknown model family {name!r}; expected tfidf, embeddings or finetune")
