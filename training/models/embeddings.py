"""Training the sentence-embedding baseline (``stance_model.families.embeddings``): the encoder stays
frozen, logistic-regression heads are fitted on its embeddings."""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path

from labels.codebook import Codebook
from stance_model.encoder import set_threads
from stance_model.families.embeddings import EmbeddingModel
from stance_model.heads import LogRegHeads
from training.config import ExperimentConfig
from training.data import TaskData
from training.models.base import Classifier, EpochCallback, model_spec
from training.models.heads import fit_heads
from training.pretrained import encoder_dir


class EmbeddingClassifier(EmbeddingModel, Classifier):
    def __init__(self, codebook: Codebook, config: ExperimentConfig) -> None:
        set_threads(config.train.torch_threads)
        self._tmp = tempfile.mkdtemp(prefix="embeddings-")  # for a built tiny encoder, removed with the object
        weakref.finalize(self, shutil.rmtree, self._tmp, True)  # also at interpreter exit
        source = encoder_dir(config.model.base_model, Path(self._tmp), config.train.seed)
        super().__init__(codebook, model_spec(config), model_dir=source)
        self.config = config
        self.heads = LogRegHeads(codebook, config.model.logreg_c, config.train.class_weighting, config.train.seed)

    def fit(self, train: TaskData, validation: TaskData, on_epoch: EpochCallback | None = None) -> None:
        x = self.embed(train.texts)
        fit_heads(self.heads, x, train)
        self.train_features = x  # what predict_scores gives as features: the embeddings themselves
