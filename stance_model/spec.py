"""What a saved model is, apart from its weights: the family and the options that shape prediction.

A model saves its ``ModelSpec`` and nothing of the training configuration, so training options can
be added or removed without breaking saved models. Models saved before the spec existed carry the
whole experiment config in ``meta.json``; ``from_meta`` reads the spec out of it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

FAMILIES = ("tfidf", "embeddings", "finetune")
TARGET_TEXTS = ("name", "description", "name_and_description")

ARCHITECTURE_RETIRED: dict[str, Any] = {"stance_pooling": "mean", "stance_product": False}
"""Options of earlier versions that changed the fine-tuned architecture, with the value that meant
"off". A model saved with one of them on cannot be rebuilt and is refused by name."""


class SpecError(ValueError):
    """A saved model's spec is missing, malformed or asks for what this runtime cannot build."""


@dataclass(frozen=True)
class ModelSpec:
    family: str = "finetune"
    """``tfidf``, ``embeddings`` or ``finetune``."""
    base_model: str = "all-MiniLM-L6-v2"
    """The encoder the model started from (provenance: the weights are saved with the model)."""
    max_length: int = 128
    """Maximum tokens per sequence (transformer families)."""
    target_text: str = "name"
    """How each stance target is presented beside the passage (fine-tune)."""
    dropout: float = 0.1
    """Dropout before the heads (fine-tune; inactive at prediction)."""
    tfidf_blend: float = 0.0
    """Weight of the TF-IDF partner's probabilities averaged into the fine-tune's scores (0 for the
    other families, whatever their training config said)."""

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise SpecError(f"unknown model family {self.family!r}; expected one of {FAMILIES}")
        if self.target_text not in TARGET_TEXTS:
            raise SpecError(f"target_text must be one of {TARGET_TEXTS}, got {self.target_text!r}")
        if not 16 <= self.max_length <= 512:
            raise SpecError(f"max_length must be in [16, 512], got {self.max_length}")
        if self.family != "finetune":
            object.__setattr__(self, "tfidf_blend", 0.0)  # frozen: the one place this rule lives
        if not 0.0 <= self.tfidf_blend < 1.0:
            raise SpecError(f"tfidf_blend must be in [0, 1), got {self.tfidf_blend}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelSpec:
        """The spec from a saved dict; unknown keys are an error (a spec is written by this runtime)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise SpecError(f"unknown spec key(s) {unknown}; known: {sorted(known)}")
        try:
            return cls(**values)
        except TypeError as exc:
            raise SpecError(str(exc)) from None

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> ModelSpec:
        """The spec of a saved model's ``meta.json``: its ``spec``, or for a model saved before specs,
        the prediction options of its ``config.model`` (training options are ignored)."""
        if "spec" in meta:
            return cls.from_dict(meta["spec"])
        model = (meta.get("config") or {}).get("model")
        if not isinstance(model, dict):
            raise SpecError("meta.json has neither a model spec nor a saved config")
        for key, off in ARCHITECTURE_RETIRED.items():
            if key in model and model[key] != off:
                raise SpecError(f"this model was trained with model.{key}={model[key]!r}, an option this version "
                                "no longer has; load it with the version that trained it")
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in model.items() if k in known}
        values.setdefault("family", meta.get("family", "finetune"))
        return cls.from_dict(values)
