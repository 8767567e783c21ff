"""all-MiniLM-L6-v2 fine-tuned as one multi-task cross-encoder, one forward pass per passage.

Each passage is encoded together with the text of every stance target from the codebook::

    [CLS] passage [SEP] target-1 text [SEP] target-2 text [SEP]

so every target attends to the passage and the passage to the targets (a cross-encoding of
the (target, passage) pairs), and one pass yields all labels:

- frames: a multi-label head (sigmoid, BCE) on the mean of the passage tokens;
- stance: one head shared by all targets, on [mean of the target's tokens; mean of the passage
  tokens], classifying into the codebook's stance labels. A new target is a new text in the
  codebook plus annotations: no code, no new parameters.

Encoding all targets in one sequence costs about a third of one pass per (target, passage) pair
with two targets, which buys the epochs a small corpus needs within the CPU budget.

With ``tfidf_blend`` > 0 a TF-IDF model trained on the same split is saved inside the model and its
probabilities are averaged into every prediction. Training is ``training.models.finetune``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from labels.codebook import Codebook
from stance_model.base import Model, Scores, read_json, write_json
from stance_model.encoder import (
    INT8_APPLIED,
    length_batches,
    load_encoder,
    load_tokenizer,
    mean_pool,
    quantize_linear_int8,
    run_layers,
    target_texts,
)
from stance_model.onnx_runtime import ONNX_APPLIED, ONNX_FILE, Int8Runner
from stance_model.spec import ModelSpec
from stance_model.tfidf_arrays import TfidfRuntime

INFERENCE_BATCH = 8
"""Passages per forward pass at inference, after sorting by length. Small sorted batches pad far
less than one batch of a request's 32 mixed-length passages, and on CPU a batch of 8 already keeps
the matmuls efficient: 32 passages of 40-120 words ran 1.37x faster in batches of 8 than of 32
(experiments/benchmarks/RESULTS.md). Training batches are set by ``train.batch_size``."""


def _has_onnxruntime() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True



def blend(scores: Scores, other: Scores, w: float) -> Scores:
    """``scores`` averaged with ``other`` (the TF-IDF model's, same passages), ``other`` weighted ``w``."""
    return Scores(frames=((1 - w) * scores.frames + w * other.frames).astype(np.float32),
                  stance={t: ((1 - w) * p + w * other.stance[t]).astype(np.float32) for t, p in scores.stance.items()},
                  features=scores.features)


class MultiTaskModel(nn.Module):
    """A shared encoder, a frame head on the passage span and a stance head per target span."""

    def __init__(self, encoder: nn.Module, n_frames: int, n_stance: int, dropout: float) -> None:
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        # noise on stored frozen-layer states in training, in place of the frozen layers' own dropout
        self.state_dropout = nn.Dropout(getattr(encoder.config, "hidden_dropout_prob", 0.1))
        self.frame_head = nn.Linear(hidden, n_frames)
        self.stance_head = nn.Linear(2 * hidden, n_stance)  # on [target; passage]
        # (frame, stance) logit temperatures, fitted on validation after training (``calibrate``);
        # models saved before calibration existed load without them and keep 1.0
        self.register_buffer("temperature", torch.ones(2))

    def features(self, batch: dict[str, torch.Tensor], from_layer: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """(passage features (B, H), per-target stance features (B, T, 2H): [target; passage]).

        With ``from_layer`` > 0, ``batch["hidden"]`` holds the output of the encoder's lowest
        ``from_layer`` layers (see ``training.models.finetune_heads.HeadPhases.frozen_states``) and only
        the layers above run."""
        if from_layer:
            hidden = run_layers(self.state_dropout(batch["hidden"]), batch["attention_mask"],
                                self.encoder.encoder.layer[from_layer:])
        else:
            hidden = self.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                  token_type_ids=batch["token_type_ids"]).last_hidden_state
        passage = mean_pool(hidden, batch["passage_mask"])
        targets = mean_pool(hidden.unsqueeze(1), batch["target_masks"])  # (B, T, H)
        return passage, torch.cat([targets, passage.unsqueeze(1).expand_as(targets)], dim=-1)

    def forward(self, batch: dict[str, torch.Tensor], from_layer: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        frames, stance, _ = self.with_features(batch, from_layer)
        return frames, stance

    def with_features(self, batch: dict[str, torch.Tensor], from_layer: int = 0
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(frame logits, stance logits, passage features): ``forward`` and what the scope detector reads."""
        passage, pair = self.features(batch, from_layer)
        frames, stance = self.frame_head(self.dropout(passage)), self.stance_head(self.dropout(pair))
        return frames / self.temperature[0], stance / self.temperature[1], passage


class FinetuneModel(Model):
    family = "finetune"

    def __init__(self, codebook: Codebook, spec: ModelSpec, model_dir: Path, heads: Path | None = None) -> None:
        """The encoder and tokenizer come from ``model_dir``. Without ``heads`` the model is built at
        once with fresh heads (to train); with ``heads`` (a saved ``heads.pt``) the torch model is built
        only when first used: a model served from its int8 graph never loads the torch weights."""
        super().__init__(codebook, spec)
        self._model: MultiTaskModel | None = None
        self._pending: tuple[Path, Path] | None = None
        if heads is None:
            self.tokenizer, encoder = load_encoder(model_dir)
            self._model = self._build(encoder)
        else:
            self.tokenizer = load_tokenizer(model_dir)
            self._pending = (model_dir, heads)
        self.target_text = target_texts(codebook, spec.target_text)
        self.best_epoch = 0
        self.device = torch.device("cpu")
        self.tfidf: Any = None  # the TF-IDF partner of the blend (``spec.tfidf_blend`` > 0)
        self.inference_batch = INFERENCE_BATCH  # 1 once quantised: see ``quantize_linear_int8``
        self.int8_graph: Path | None = None  # the int8 ONNX graph (``stance_model.onnx_runtime``)
        self.runner: Int8Runner | None = None  # runs that graph once ``optimize_for_inference(int8=True)``

    def _build(self, encoder: nn.Module) -> MultiTaskModel:
        return MultiTaskModel(encoder, len(self.codebook.frame_ids), len(self.codebook.stance_labels), self.spec.dropout)

    @property
    def model(self) -> MultiTaskModel | None:
        """The torch model (built on first use for a loaded model); ``None`` once served from the int8 graph."""
        if self._model is None and self._pending is not None:
            source, heads = self._pending
            self._pending = None
            model = self._build(load_encoder(source)[1])
            model.load_state_dict(torch.load(heads, map_location="cpu"), strict=False)
            self._model = model.eval()
        return self._model

    @model.setter
    def model(self, value: MultiTaskModel | None) -> None:
        self._model, self._pending = value, None

    # -- encoding -------------------------------------------------------------------------
    def _target_ids(self) -> list[list[int]]:
        if getattr(self, "_target_cache", None) is not None:
            return self._target_cache
        return [self.tokenizer(self.target_text[t], add_special_tokens=False)["input_ids"]
                for t in self.codebook.target_ids]

    def encode(self, texts: Sequence[str]) -> list[dict[str, list]]:
        """Token ids and span markers of ``[CLS] passage [SEP] t1 [SEP] t2 [SEP] ...``.

        The passage is truncated so the whole sequence fits ``max_length``; the targets never are.
        """
        tok = self.tokenizer
        tids = self._target_ids()
        tail = sum(len(t) + 1 for t in tids)
        room = self.spec.max_length - 2 - tail
        if room < 8:
            raise ValueError(f"max_length {self.spec.max_length} leaves no room for the passage "
                             f"after the target texts ({tail} tokens)")
        cls_id, sep_id = tok.cls_token_id, tok.sep_token_id
        items = []
        for ids in tok(list(texts), add_special_tokens=False, truncation=True, max_length=room)["input_ids"]:
            seq = [cls_id, *ids, sep_id]
            types = [0] * len(seq)
            spans = []
            for t in tids:
                start = len(seq)
                seq += [*t, sep_id]
                types += [1] * (len(t) + 1)
                spans.append((start, start + len(t)))
            items.append({"input_ids": seq, "token_type_ids": types, "passage": (1, 1 + len(ids)), "targets": spans})
        return items

    def collate(self, items: list[dict[str, list]]) -> dict[str, torch.Tensor]:
        n, width = len(items), max(len(x["input_ids"]) for x in items)
        n_targets = len(items[0]["targets"])
        input_ids = torch.full((n, width), self.tokenizer.pad_token_id, dtype=torch.long)
        types = torch.zeros((n, width), dtype=torch.long)
        attention = torch.zeros((n, width), dtype=torch.long)
        passage = torch.zeros((n, width), dtype=torch.bool)
        targets = torch.zeros((n, n_targets, width), dtype=torch.bool)
        for i, x in enumerate(items):
            k = len(x["input_ids"])
            input_ids[i, :k] = torch.tensor(x["input_ids"])
            types[i, :k] = torch.tensor(x["token_type_ids"])
            attention[i, :k] = 1
            passage[i, x["passage"][0]:x["passage"][1]] = True
            for j, (a, b) in enumerate(x["targets"]):
                targets[i, j, a:b] = True
        batch = {"input_ids": input_ids, "token_type_ids": types, "attention_mask": attention,
                 "passage_mask": passage, "target_masks": targets}
        return {k: v.to(self.device) for k, v in batch.items()}

    # -- inference ------------------------------------------------------------------------
    @torch.inference_mode()
    def predict_scores(self, texts: Sequence[str], targets: Sequence[str] | None = None,
                       batch_size: int | None = None) -> Scores:
        """One forward pass per passage gives every frame and every target; ``targets`` selects
        which stance results are returned. ``batch_size`` defaults to ``inference_batch``."""
        batch_size = batch_size or self.inference_batch
        targets = list(targets) if targets is not None else self.codebook.target_ids
        scores = self.collect_scores(len(texts), self._forward(texts, batch_size), targets)
        return self._blend(scores, texts, targets) if self.tfidf is not None else scores

    def collect_scores(self, n: int, batches: Iterable[tuple[list[int], torch.Tensor, torch.Tensor, torch.Tensor | None]],
                       targets: list[str]) -> Scores:
        """The encoder's ``Scores`` of ``n`` passages from (indices, frame logits, stance logits,
        passage features or ``None``) per batch, as ``_forward`` yields them; stance of ``targets``."""
        cols = [self.codebook.target_ids.index(t) for t in targets]
        frames = np.zeros((n, len(self.codebook.frame_ids)), dtype=np.float32)
        stance = np.zeros((n, len(self.codebook.target_ids), len(self.codebook.stance_labels)), dtype=np.float32)
        features: np.ndarray | None = None
        for idx, f, s, p in batches:
            frames[idx] = torch.sigmoid(f).cpu().numpy()
            stance[idx] = torch.softmax(s, dim=-1).cpu().numpy()
            if p is not None:
                features = np.zeros((n, p.shape[-1]), dtype=np.float32) if features is None else features
                features[idx] = p.cpu().numpy()
        return Scores(frames=frames, stance={t: stance[:, c] for t, c in zip(targets, cols, strict=True)},
                      features=features)

    def _blend(self, scores: Scores, texts: Sequence[str], targets: list[str]) -> Scores:
        """``scores`` averaged with the TF-IDF model's, weighted by ``spec.tfidf_blend``."""
        return blend(scores, self.tfidf.predict_scores(list(texts), targets), self.spec.tfidf_blend)

    def _forward(self, texts: Sequence[str], batch_size: int = INFERENCE_BATCH
                 ) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor, torch.Tensor | None]]:
        """(indices, frame logits, stance logits, passage features) per length-sorted batch,
        temperature applied (features ``None`` from an int8 graph exported without them); call it
        under ``torch.inference_mode``."""
        items = self.encode(list(texts))
        if self.runner is not None:
            for i, item in enumerate(items):
                yield [i], *self.runner(self.collate([item]))
            return
        self.model.eval()
        for idx in length_batches([len(x["input_ids"]) for x in items], batch_size):
            yield idx, *self.model.with_features(self.collate([items[i] for i in idx]))

    def optimize_for_inference(self, int8: bool = False) -> list[str]:
        self._target_cache = self._target_ids()
        applied = ["target token ids cached"]
        if int8 and self.int8_graph is not None and _has_onnxruntime():
            self.runner = Int8Runner(self.int8_graph)
            self.inference_batch = 1
            self.model = None  # the graph holds the whole model: the torch weights are not needed to predict
            applied.append(ONNX_APPLIED)
        elif int8:
            self.model.encoder = quantize_linear_int8(self.model.encoder)
            self.inference_batch = 1
            applied.append(INT8_APPLIED)
        if self.model is not None:
            self.model.eval()
        return applied

    # -- persistence ----------------------------------------------------------------------
    def save(self, path: Path) -> None:
        if self.model is None:
            raise ValueError("this classifier was optimised for int8 serving and holds no torch weights; "
                             "save the model before optimize_for_inference")
        path.mkdir(parents=True, exist_ok=True)
        self.model.encoder.save_pretrained(path / "encoder")
        self.tokenizer.save_pretrained(path / "encoder")
        heads = {k: v for k, v in self.model.state_dict().items() if not k.startswith("encoder.")}
        torch.save(heads, path / "heads.pt")
        write_json(path / "finetune.json", {"best_epoch": self.best_epoch, "target_text": self.target_text,
                                            "targets": self.codebook.target_ids})
        if self.tfidf is not None:
            self.tfidf.save(path / "tfidf")
        if self.int8_graph is not None:
            shutil.copyfile(self.int8_graph, path / ONNX_FILE)

    @classmethod
    def load(cls, path: Path, codebook: Codebook, spec: ModelSpec) -> FinetuneModel:
        meta = read_json(path / "finetune.json")
        if meta.get("targets", codebook.target_ids) != codebook.target_ids:
            raise ValueError(f"{path}: saved targets {meta.get('targets')} differ from the codebook's")
        obj = cls(codebook, spec, model_dir=path / "encoder", heads=path / "heads.pt")
        obj.best_epoch = int(meta.get("best_epoch", 0))
        obj.target_text = {**obj.target_text, **meta.get("target_text", {})}
        if spec.tfidf_blend > 0:
            if TfidfRuntime.available(path / "tfidf"):
                obj.tfidf = TfidfRuntime(path / "tfidf", codebook)
            else:
                from stance_model.families.tfidf import TfidfModel

                obj.tfidf = TfidfModel.load(path / "tfidf", codebook, spec)
        if (path / ONNX_FILE).is_file():
            obj.int8_graph = path / ONNX_FILE
        return obj
