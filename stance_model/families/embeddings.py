"""Frozen sentence embeddings (mean-pooled, L2-normalised) with logistic-regression heads."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import joblib
import numpy as np
import torch

from labels.codebook import Codebook
from stance_model.base import Model, Scores
from stance_model.encoder import INT8_APPLIED, length_batches, load_encoder, mean_pool, quantize_linear_int8
from stance_model.heads import LogRegHeads, load_pickle
from stance_model.spec import ModelSpec


class EmbeddingModel(Model):
    family = "embeddings"

    def __init__(self, codebook: Codebook, spec: ModelSpec, model_dir: Path) -> None:
        super().__init__(codebook, spec)
        self.model_dir = model_dir
        self.tokenizer, self.encoder = load_encoder(self.model_dir)
        self.encoder.eval()
        self.heads: LogRegHeads | None = None
        self.inference_batch = 32  # 1 once quantised: see ``quantize_linear_int8``

    @torch.inference_mode()
    def embed(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """L2-normalised mean-pooled sentence embeddings, in input order."""
        batch_size = batch_size or self.inference_batch
        enc = self.tokenizer(list(texts), truncation=True, max_length=self.spec.max_length)
        lengths = [len(ids) for ids in enc["input_ids"]]
        out = np.zeros((len(texts), self.encoder.config.hidden_size), dtype=np.float32)
        for idx in length_batches(lengths, batch_size):
            batch = self.tokenizer.pad({k: [enc[k][i] for i in idx] for k in enc}, return_tensors="pt")
            pooled = mean_pool(self.encoder(**batch).last_hidden_state, batch["attention_mask"])
            out[idx] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
        return out

    def predict_scores(self, texts: Sequence[str], targets: Sequence[str] | None = None) -> Scores:
        x = self.embed(texts)
        scores = self.heads.scores(x, targets)
        scores.features = x
        return scores

    def optimize_for_inference(self, int8: bool = False) -> list[str]:
        if not int8:
            return []
        self.encoder = quantize_linear_int8(self.encoder)
        self.inference_batch = 1
        return [INT8_APPLIED]

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.encoder.save_pretrained(path / "encoder")
        self.tokenizer.save_pretrained(path / "encoder")
        joblib.dump(self.heads, path / "heads.joblib")

    @classmethod
    def load(cls, path: Path, codebook: Codebook, spec: ModelSpec) -> EmbeddingModel:
        obj = cls(codebook, spec, model_dir=path / "encoder")
        obj.heads = load_pickle(path / "heads.joblib")
        obj.heads.codebook = codebook
        return obj
