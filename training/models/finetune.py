"""all-MiniLM-L6-v2 fine-tuned as one multi-task model.

Frames: a multi-label head (sigmoid, BCE) on the mean-pooled passage encoding. Stance: the
passage is paired with the target's text from the codebook and classified into the codebook's
stance labels by one shared head, so a new target needs annotations, not code.
"""

from __future__ import annotations

import copy
import logging
import random
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from labels.codebook import Codebook
from training.config import ExperimentConfig
from training.data import TaskData
from training.metrics import evaluate_arrays
from training.models.base import Classifier, EpochCallback, Scores, class_weights, read_json, write_json
from training.models.encoder import (
    encoder_dir,
    length_batches,
    load_encoder,
    mean_pool,
    set_threads,
    target_texts,
)

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class MultiTaskModel(nn.Module):
    """A shared encoder with a frame head and a stance head."""

    def __init__(self, encoder: nn.Module, n_frames: int, n_stance: int, dropout: float) -> None:
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.frame_head = nn.Linear(hidden, n_frames)
        self.stance_head = nn.Linear(hidden, n_stance)

    def pooled(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        out = self.encoder(**batch).last_hidden_state
        return mean_pool(out, batch["attention_mask"])

    def frame_logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.frame_head(self.dropout(self.pooled(batch)))

    def stance_logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.stance_head(self.dropout(self.pooled(batch)))


class FinetuneClassifier(Classifier):
    family = "finetune"

    def __init__(self, codebook: Codebook, config: ExperimentConfig, model_dir: Path | None = None) -> None:
        super().__init__(codebook, config)
        set_threads(config.train.torch_threads)
        seed_everything(config.train.seed)
        self._tmp = tempfile.mkdtemp(prefix="finetune-")
        tokenizer, encoder = load_encoder(model_dir or encoder_dir(config, Path(self._tmp)))
        self.tokenizer = tokenizer
        self.model = MultiTaskModel(encoder, len(codebook.frame_ids), len(codebook.stance_labels),
                                    config.model.dropout)
        self.target_text = target_texts(codebook, config.model.target_text)
        self.best_epoch = 0

    # -- encoding -------------------------------------------------------------------------
    def _encode(self, texts: Sequence[str], target: str | None = None) -> list[dict[str, list[int]]]:
        max_len = self.config.model.max_length
        if target is None:
            enc = self.tokenizer(list(texts), truncation=True, max_length=max_len)
        else:
            firsts = [self.target_text[target]] * len(texts)
            enc = self.tokenizer(firsts, list(texts), truncation="only_second", max_length=max_len)
        keys = list(enc.keys())
        return [{k: enc[k][i] for k in keys} for i in range(len(texts))]

    def _collate(self, items: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        return dict(self.tokenizer.pad(items, return_tensors="pt"))

    # -- training -------------------------------------------------------------------------
    def _batches(self, n_items: int, lengths: list[int], rng: np.random.Generator) -> list[list[int]]:
        """Shuffled batches whose members have similar lengths (less padding, same randomness)."""
        bs = self.config.train.batch_size
        order = rng.permutation(n_items)
        batches: list[list[int]] = []
        chunk = bs * 16
        for start in range(0, n_items, chunk):
            part = order[start:start + chunk]
            part = part[np.argsort([-lengths[i] for i in part], kind="stable")]
            batches += [part[i:i + bs].tolist() for i in range(0, len(part), bs)]
        return batches

    def fit(self, train: TaskData, validation: TaskData, on_epoch: EpochCallback | None = None) -> None:
        cfg = self.config.train
        targets = self.codebook.target_ids
        seed_everything(cfg.seed)
        rng = np.random.default_rng(cfg.seed)

        frame_items = self._encode(train.texts)
        stance_items: list[dict[str, list[int]]] = []
        stance_y: list[int] = []
        for t in targets:
            stance_items += self._encode(train.texts, t)
            stance_y += train.stance[t].tolist()
        stance_y_arr = np.asarray(stance_y, dtype=np.int64)

        n_labels = len(self.codebook.stance_labels)
        if cfg.class_weighting:
            pos = train.frames.sum(0)
            pos_weight = torch.tensor(np.clip((len(train) - pos) / np.maximum(pos, 1), 0.5, 10.0), dtype=torch.float32)
            ce_weight = torch.tensor(class_weights(stance_y_arr, n_labels))
        else:
            pos_weight, ce_weight = None, None
        bce = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
        ce = nn.CrossEntropyLoss(weight=ce_weight)

        for i, layer in enumerate(self.model.encoder.encoder.layer):
            for p in layer.parameters():
                p.requires_grad = i >= self.config.model.freeze_layers
        head_params = list(self.model.frame_head.parameters()) + list(self.model.stance_head.parameters())
        enc_params = [p for p in self.model.encoder.parameters() if p.requires_grad]
        optim = torch.optim.AdamW([
            {"params": enc_params, "lr": cfg.learning_rate},
            {"params": head_params, "lr": cfg.head_learning_rate},
        ], weight_decay=cfg.weight_decay)

        f_len = [len(x["input_ids"]) for x in frame_items]
        s_len = [len(x["input_ids"]) for x in stance_items]
        steps_per_epoch = -(-len(frame_items) // cfg.batch_size) + -(-len(stance_items) // cfg.batch_size)
        total = steps_per_epoch * cfg.epochs
        if cfg.max_steps:
            total = min(total, cfg.max_steps)
        warmup = int(total * cfg.warmup_ratio)
        sched = torch.optim.lr_scheduler.LambdaLR(
            optim, lambda s: (s + 1) / max(warmup, 1) if s < warmup else max(0.0, (total - s) / max(total - warmup, 1))
        )

        best_score, best_state, bad_epochs, step = -1.0, None, 0, 0
        progress = tqdm(total=total, desc="fine-tune", unit="step", leave=False, mininterval=2.0)
        for epoch in range(1, cfg.epochs + 1):
            self.model.train()
            jobs = [("frames", b) for b in self._batches(len(frame_items), f_len, rng)]
            jobs += [("stance", b) for b in self._batches(len(stance_items), s_len, rng)]
            rng.shuffle(jobs)
            losses: list[float] = []
            for task, idx in jobs:
                if cfg.max_steps and step >= cfg.max_steps:
                    break
                if task == "frames":
                    batch = self._collate([frame_items[i] for i in idx])
                    loss = bce(self.model.frame_logits(batch), torch.from_numpy(train.frames[idx]))
                else:
                    batch = self._collate([stance_items[i] for i in idx])
                    loss = ce(self.model.stance_logits(batch), torch.from_numpy(stance_y_arr[idx]))
                optim.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                optim.step()
                sched.step()
                step += 1
                losses.append(float(loss.detach()))
                progress.update(1)
                progress.set_postfix(epoch=epoch, loss=f"{np.mean(losses[-20:]):.3f}")
            metrics = {"train_loss": float(np.mean(losses)) if losses else float("nan")}
            metrics.update(self._validation_metrics(validation))
            score = (metrics["val_frames_macro_f1"] + metrics["val_stance_macro_f1"]) / 2
            metrics["val_selection_score"] = score
            log.info("epoch %d: %s", epoch, {k: round(v, 4) for k, v in metrics.items() if "_" in k and k.count("_") < 4})
            if on_epoch:
                on_epoch(epoch, metrics)
            if score > best_score:
                best_score, bad_epochs, self.best_epoch = score, 0, epoch
                best_state = copy.deepcopy(self.model.state_dict())
            else:
                bad_epochs += 1
                if cfg.early_stopping_patience and bad_epochs >= cfg.early_stopping_patience:
                    log.info("early stopping after epoch %d (best epoch %d)", epoch, self.best_epoch)
                    break
            if cfg.max_steps and step >= cfg.max_steps:
                break
        progress.close()
        if best_state is not None:
            self.model.load_state_dict(best_state)
        self.model.eval()

    def _validation_metrics(self, validation: TaskData) -> dict[str, float]:
        scores = self.predict_scores(validation.texts)
        return evaluate_arrays(self.codebook, validation.frames, (scores.frames >= 0.5).astype(int),
                               validation.stance, scores.stance_argmax(), prefix="val_")

    # -- inference ------------------------------------------------------------------------
    @torch.inference_mode()
    def _run(self, items: list[dict[str, list[int]]], head: str, batch_size: int = 32) -> np.ndarray:
        self.model.eval()
        lengths = [len(x["input_ids"]) for x in items]
        n_out = self.model.frame_head.out_features if head == "frames" else self.model.stance_head.out_features
        out = np.zeros((len(items), n_out), dtype=np.float32)
        for idx in length_batches(lengths, batch_size):
            batch = self._collate([items[i] for i in idx])
            if head == "frames":
                out[idx] = torch.sigmoid(self.model.frame_logits(batch)).numpy()
            else:
                out[idx] = torch.softmax(self.model.stance_logits(batch), dim=-1).numpy()
        return out

    def predict_scores(self, texts: Sequence[str], targets: Sequence[str] | None = None) -> Scores:
        texts = list(texts)
        targets = list(targets) if targets is not None else self.codebook.target_ids
        frames = self._run(self._encode(texts), "frames")
        stance = {t: self._run(self._encode(texts, t), "stance") for t in targets}
        return Scores(frames=frames, stance=stance)

    # -- persistence ----------------------------------------------------------------------
    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.model.encoder.save_pretrained(path / "encoder")
        self.tokenizer.save_pretrained(path / "encoder")
        heads = {k: v for k, v in self.model.state_dict().items() if not k.startswith("encoder.")}
        torch.save(heads, path / "heads.pt")
        write_json(path / "finetune.json", {"best_epoch": self.best_epoch, "target_text": self.target_text})

    @classmethod
    def load(cls, path: Path, codebook: Codebook, config: ExperimentConfig) -> FinetuneClassifier:
        obj = cls(codebook, config, model_dir=path / "encoder")
        obj.model.load_state_dict(torch.load(path / "heads.pt", map_location="cpu"), strict=False)
        meta = read_json(path / "finetune.json")
        obj.best_epoch = int(meta.get("best_epoch", 0))
        obj.target_text = {**obj.target_text, **meta.get("target_text", {})}
        obj.model.eval()
        return obj

    def __del__(self) -> None:
        shutil.rmtree(getattr(self, "_tmp", ""), ignore_errors=True)
