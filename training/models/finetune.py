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

With ``model.tfidf_blend`` > 0 a TF-IDF model (``training.models.tfidf``) is trained on the same
split and its probabilities are averaged into every prediction: one model, saved and served whole.
"""

from __future__ import annotations

import copy
import logging
import random
import shutil
import tempfile
import warnings
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from labels.codebook import Codebook
from training.config import ExperimentConfig
from training.data import TaskData
from training.models.base import Classifier, EpochCallback, Scores, class_weights, read_json, write_json
from training.models.encoder import (
    INT8_APPLIED,
    encoder_dir,
    length_batches,
    load_encoder,
    load_tokenizer,
    mean_pool,
    quantize_linear_int8,
    run_layers,
    set_threads,
    target_texts,
)
from training.models.onnx_int8 import ONNX_APPLIED, ONNX_FILE, Int8Runner, export_int8
from training.models.tfidf_runtime import TfidfRuntime
from training.thresholds import temper

log = logging.getLogger(__name__)


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


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


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
        ``from_layer`` layers (see ``FinetuneClassifier._frozen_states``) and only the layers above run."""
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
        passage, pair = self.features(batch, from_layer)
        frames, stance = self.frame_head(self.dropout(passage)), self.stance_head(self.dropout(pair))
        return frames / self.temperature[0], stance / self.temperature[1]


@dataclass
class _Epochs:
    """What the training epochs work on, prepared by the phases before them."""

    train: TaskData
    validation: TaskData
    items: list[dict[str, list]]
    stance_y: np.ndarray
    states: list[torch.Tensor] | None
    from_layer: int
    losses: tuple[nn.Module, nn.Module]
    rng: np.random.Generator


class FinetuneClassifier(Classifier):
    family = "finetune"

    def __init__(self, codebook: Codebook, config: ExperimentConfig, model_dir: Path | None = None,
                 heads: Path | None = None) -> None:
        """With ``heads`` (a saved ``heads.pt``), the torch model is built from ``model_dir`` and those
        heads only when first used: a model served from its int8 graph never loads the torch weights."""
        super().__init__(codebook, config)
        set_threads(config.train.torch_threads)
        seed_everything(config.train.seed)
        self._tmp: str | None = None  # a scratch folder, made only when training needs one (see ``workdir``)
        source = model_dir or encoder_dir(config, self.workdir)
        self._model: MultiTaskModel | None = None
        self._pending: tuple[Path, Path] | None = None
        if heads is None:
            self.tokenizer, encoder = load_encoder(source)
            self._model = self._build(encoder)
        else:
            self.tokenizer = load_tokenizer(source)
            self._pending = (source, heads)
        self.target_text = target_texts(codebook, config.model.target_text)
        self.best_epoch = 0
        self.device = torch.device("cpu")
        self.tfidf: Any = None  # TfidfClassifier trained by ``fit`` when ``model.tfidf_blend`` > 0; TfidfRuntime loaded
        self.inference_batch = INFERENCE_BATCH  # 1 once quantised: see ``quantize_linear_int8``
        self.int8_graph: Path | None = None  # the int8 ONNX graph (``training.models.onnx_int8``), made by ``fit``
        self.runner: Int8Runner | None = None  # runs that graph once ``optimize_for_inference(int8=True)``

    @property
    def workdir(self) -> Path:
        """Scratch folder for training (a built tiny encoder, the exported graph), removed with the object
        or at exit; a loaded model that is only served never makes one."""
        if self._tmp is None:
            self._tmp = tempfile.mkdtemp(prefix="finetune-")
            weakref.finalize(self, shutil.rmtree, self._tmp, True)
        return Path(self._tmp)

    def _build(self, encoder: nn.Module) -> MultiTaskModel:
        m = self.config.model
        return MultiTaskModel(encoder, len(self.codebook.frame_ids), len(self.codebook.stance_labels), m.dropout)

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
        room = self.config.model.max_length - 2 - tail
        if room < 8:
            raise ValueError(f"model.max_length {self.config.model.max_length} leaves no room for the passage "
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

    def batch(self, items: list[dict[str, list]], idx: list[int],
               states: list[torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """The collated batch of ``items[idx]``; with ``states``, also ``hidden``: their stored
        frozen-layer states, zero-padded (padding is masked out of attention and pooling)."""
        batch = self.collate([items[i] for i in idx])
        if states is not None:
            hidden = states[idx[0]].new_zeros((len(idx), batch["input_ids"].shape[1], states[idx[0]].shape[-1]))
            for row, i in enumerate(idx):
                hidden[row, :states[i].shape[0]] = states[i]
            batch["hidden"] = hidden
        return batch

    @torch.no_grad()
    def frozen_states(self, items: list[dict[str, list]], n_layers: int, batch_size: int = 32) -> list[torch.Tensor]:
        """Each item's hidden states after the embeddings and the lowest ``n_layers`` encoder layers,
        unpadded, computed once in eval mode (so without those layers' dropout). Frozen layers give
        the same output every epoch, so training runs only the layers it updates."""
        encoder = self.model.encoder.eval()
        out: list[torch.Tensor] = [torch.empty(0)] * len(items)
        for idx in length_batches([len(x["input_ids"]) for x in items], batch_size):
            batch = self.collate([items[i] for i in idx])
            hidden = encoder.embeddings(input_ids=batch["input_ids"], token_type_ids=batch["token_type_ids"])
            hidden = run_layers(hidden, batch["attention_mask"], encoder.encoder.layer[:n_layers])
            for row, i in enumerate(idx):
                out[i] = hidden[row, :len(items[i]["input_ids"])].clone()
        return out

    # -- training -------------------------------------------------------------------------
    def batches(self, lengths: list[int], rng: np.random.Generator) -> list[list[int]]:
        """Shuffled batches whose members have similar lengths (less padding, same randomness)."""
        bs = self.config.train.batch_size
        order = rng.permutation(len(lengths))
        batches: list[list[int]] = []
        chunk = bs * 16
        for start in range(0, len(order), chunk):
            part = order[start:start + chunk]
            part = part[np.argsort([-lengths[i] for i in part], kind="stable")]
            batches += [part[i:i + bs].tolist() for i in range(0, len(part), bs)]
        order = rng.permutation(len(batches))
        return [batches[i] for i in order]

    def fit(self, train: TaskData, validation: TaskData, on_epoch: EpochCallback | None = None) -> None:
        """Phases, in order: the TF-IDF partner of the blend, the losses, freezing (and caching the
        frozen layers' output), the linear probe, the epochs (the best by validation kept, early
        stopping), then on the CPU: calibration and the int8 export."""
        cfg = self.config.train
        if cfg.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"train.device={cfg.device} but torch sees no CUDA device; use train.device=cpu")
        seed_everything(cfg.seed)
        self.fit_blend_partner(train, validation)
        self.device = torch.device(cfg.device)
        self.model.to(self.device)
        rng = np.random.default_rng(cfg.seed)
        items = self.encode(train.texts)
        stance_y = train.stance_matrix(self.codebook.target_ids)
        losses = self.loss_functions(train, stance_y)
        from_layer, states = self.freeze_and_cache(items)
        if cfg.linear_probe_init:
            self._linear_probe(items, train.frames, stance_y, states, from_layer)
        self.train_epochs(_Epochs(train, validation, items, stance_y, states, from_layer, losses, rng), on_epoch)
        self.finish(validation)

    def fit_blend_partner(self, train: TaskData, validation: TaskData) -> None:
        """Phase: train the TF-IDF model averaged into the scores (``model.tfidf_blend``); first, so
        every epoch is validated (and the best one chosen) as the blend that is served."""
        if self.config.model.tfidf_blend > 0:
            from training.models.tfidf import TfidfClassifier  # scikit-learn: to train, not to serve

            self.tfidf = TfidfClassifier(self.codebook, self.config)
            self.tfidf.fit(train, validation)
            seed_everything(self.config.train.seed)

    def loss_functions(self, train: TaskData, stance_y: np.ndarray) -> tuple[nn.Module, nn.Module]:
        """Phase: the frame loss (binary, positives weighted by their rarity) and the stance loss
        (cross-entropy, classes weighted by inverse frequency), unweighted without ``class_weighting``."""
        cfg = self.config.train
        n_labels = len(self.codebook.stance_labels)
        if cfg.class_weighting:
            pos = train.frames.sum(0)
            pos_weight = torch.tensor(np.clip((len(train) - pos) / np.maximum(pos, 1), 0.5, 10.0), dtype=torch.float32)
            ce_weight = torch.tensor(class_weights(stance_y.reshape(-1), n_labels))
        else:
            pos_weight, ce_weight = None, None
        bce = nn.BCEWithLogitsLoss(pos_weight=pos_weight).to(self.device)
        ce = nn.CrossEntropyLoss(weight=ce_weight).to(self.device)
        return bce, ce

    def freeze_and_cache(self, items: list[dict[str, list]]) -> tuple[int, list[torch.Tensor] | None]:
        """Phase: freeze the bottom layers; with ``cache_frozen``, run them once over the training
        set. Returns (the layer training steps start from, the cached states or ``None``)."""
        frozen = self.freeze()
        from_layer = frozen if self.config.train.cache_frozen else 0
        return from_layer, (self.frozen_states(items, from_layer) if from_layer else None)

    def train_epochs(self, run: _Epochs, on_epoch: EpochCallback | None) -> None:
        """Phase: the epochs, each validated; the best epoch's weights are kept, and training stops
        after ``early_stopping_patience`` epochs without improvement (or at ``max_steps``)."""
        cfg = self.config.train
        optim = torch.optim.AdamW(self.param_groups(), weight_decay=cfg.weight_decay)
        lengths = [len(x["input_ids"]) for x in run.items]
        total = -(-len(run.items) // cfg.batch_size) * cfg.epochs
        if cfg.max_steps:
            total = min(total, cfg.max_steps)
        warmup = int(total * cfg.warmup_ratio)
        sched = torch.optim.lr_scheduler.LambdaLR(
            optim, lambda s: (s + 1) / max(warmup, 1) if s < warmup else max(0.0, (total - s) / max(total - warmup, 1))
        )
        best_score, best_state, bad_epochs, step = -1.0, None, 0, 0
        progress = tqdm(total=total, desc="fine-tune", unit="step", leave=False, mininterval=2.0)
        for epoch in range(1, cfg.epochs + 1):
            losses, step = self.train_epoch(run, self.batches(lengths, run.rng), optim, sched, step, progress, epoch)
            metrics = {"train_loss": float(np.mean(losses)) if losses else float("nan")}
            metrics.update(self._validation_metrics(run.validation))
            score = (metrics["val_frames_macro_f1"] + metrics["val_stance_macro_f1"]) / 2
            metrics["val_selection_score"] = score
            log.info("epoch %d: loss %.4f, val frames macro-F1 %.4f, val stance macro-F1 %.4f", epoch,
                     metrics["train_loss"], metrics["val_frames_macro_f1"], metrics["val_stance_macro_f1"])
            if on_epoch:
                on_epoch(epoch, metrics)
            improved = score > best_score
            if improved:
                best_score, bad_epochs, self.best_epoch = score, 0, epoch
                best_state = copy.deepcopy(self.model.state_dict())
            if not improved:
                bad_epochs += 1
                if cfg.early_stopping_patience and bad_epochs >= cfg.early_stopping_patience:
                    log.info("early stopping after epoch %d (best epoch %d)", epoch, self.best_epoch)
                    break
            if cfg.max_steps and step >= cfg.max_steps:
                break
        progress.close()
        if best_state is not None:
            self.model.load_state_dict(best_state)

    def train_epoch(self, run: _Epochs, batches: list[list[int]], optim: torch.optim.Optimizer, sched: Any, step: int,
                    progress: Any, epoch: int) -> tuple[list[float], int]:
        """One pass over ``batches``; returns the batch losses and the step count after it."""
        cfg = self.config.train
        bce, ce = run.losses
        n_labels = len(self.codebook.stance_labels)
        self.model.train()
        losses: list[float] = []
        for idx in batches:
            if cfg.max_steps and step >= cfg.max_steps:
                break
            frame_logits, stance_logits = self.model(self.batch(run.items, idx, run.states), run.from_layer)
            loss = bce(frame_logits, torch.from_numpy(run.train.frames[idx]).to(self.device))
            y = torch.from_numpy(run.stance_y[idx]).to(self.device)
            loss = loss + ce(stance_logits.reshape(-1, n_labels), y.reshape(-1))
            optim.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            optim.step()
            sched.step()
            step += 1
            losses.append(float(loss.detach()))
            progress.update(1)
            progress.set_postfix(epoch=epoch, loss=f"{np.mean(losses[-20:]):.3f}")
        return losses, step

    def finish(self, validation: TaskData) -> None:
        """Phase: back to the CPU in eval mode (evaluated, checked for int8, saved and served there
        whatever device trained it), calibrate on validation, export the int8 graph."""
        self.device = torch.device("cpu")
        self.model.to(self.device)
        self.model.eval()
        if self.config.train.calibrate:
            self.calibrate(validation)
        self.export_int8(self.workdir / ONNX_FILE)

    def export_int8(self, dest: Path) -> None:
        """Write the trained model as an int8 ONNX graph to ``dest`` (checked, saved and served with it).
        Without the ``onnx`` package, or without room to write it, the model has no graph and int8
        serving uses torch (the int8 check then measures that)."""
        try:
            example = self.collate(self.encode(["A short passage.", "A second, somewhat longer passage of text."]))
            self.int8_graph = export_int8(self.model, example, dest)
        except (ImportError, OSError) as exc:
            log.warning("no int8 ONNX graph (%s: %s): int8 serving will use torch", type(exc).__name__, exc)

    @torch.inference_mode()
    def calibrate(self, validation: TaskData) -> tuple[float, float]:
        """Fit the (frame, stance) temperatures that minimise validation log loss; return them."""
        self.model.temperature.fill_(1.0)
        n = len(validation.texts)
        frame_logits = torch.zeros((n, len(self.codebook.frame_ids)))
        stance_logits = torch.zeros((n, len(self.codebook.target_ids), len(self.codebook.stance_labels)))
        for idx, f, s in self._forward(validation.texts):
            frame_logits[idx], stance_logits[idx] = f.float().cpu(), s.float().cpu()
        frame_y = torch.from_numpy(validation.frames).float()
        stance_y = torch.from_numpy(validation.stance_matrix(self.codebook.target_ids)).long()
        grid = torch.exp(torch.linspace(np.log(0.2), np.log(20.0), 241))  # 2% steps

        def best(loss) -> float:
            return float(grid[int(torch.stack([loss(t) for t in grid]).argmin())])

        bce, ce = nn.functional.binary_cross_entropy_with_logits, nn.functional.cross_entropy
        temps = (best(lambda t: bce(frame_logits / t, frame_y)),
                 best(lambda t: ce((stance_logits / t).reshape(-1, stance_logits.shape[-1]), stance_y.reshape(-1))))
        self.model.temperature.copy_(torch.tensor(temps))
        log.info("calibration on validation: frame temperature %.2f, stance temperature %.2f", *temps)
        return temps

    def threshold_grid(self) -> np.ndarray:
        """The fixed grid mapped through the frame temperature: the same logit cut-offs, so the
        thresholds tuned on calibrated scores make the decisions tuning on raw scores would make.
        A blend with TF-IDF is not a function of the encoder's logits alone: the fixed grid."""
        grid = super().threshold_grid()
        t = float(self.model.temperature[0])
        return grid if t == 1.0 or self.tfidf is not None else temper(grid, t)

    def freeze(self) -> int:
        """Freeze the embeddings and the lowest ``model.freeze_layers`` encoder layers (none if 0),
        leave the rest trainable, and return how many layers are frozen. Freezing the embeddings
        with the lowest layers stops backpropagation at the first trainable layer, which is what
        makes a frozen layer cheaper, not only fixed."""
        layers = self.model.encoder.encoder.layer
        frozen = min(self.config.model.freeze_layers, len(layers))
        for p in self.model.encoder.embeddings.parameters():
            p.requires_grad = frozen == 0
        for i, layer in enumerate(layers):
            for p in layer.parameters():
                p.requires_grad = i >= frozen
        return frozen

    def param_groups(self) -> list[dict]:
        """Optimiser groups of the trainable parameters: encoder layer i of n at
        ``learning_rate * layer_lr_decay ** (n - 1 - i)``, the embeddings (if trained) one step below
        the lowest layer, the heads at ``head_learning_rate``."""
        cfg = self.config.train
        layers = self.model.encoder.encoder.layer
        groups = [{"params": [p for p in layer.parameters() if p.requires_grad],
                   "lr": cfg.learning_rate * cfg.layer_lr_decay ** (len(layers) - 1 - i)}
                  for i, layer in enumerate(layers)]
        # the encoder's pooler (if any) is left out: its output is never used, so it gets no gradient
        embeddings = [p for p in self.model.encoder.embeddings.parameters() if p.requires_grad]
        heads = [p for name, p in self.model.named_parameters() if not name.startswith("encoder.")]
        groups += [{"params": embeddings, "lr": cfg.learning_rate * cfg.layer_lr_decay ** len(layers)},
                   {"params": heads, "lr": cfg.head_learning_rate}]
        return [g for g in groups if g["params"]]

    @torch.inference_mode()
    def _features(self, items: list[dict[str, list]], states: list[torch.Tensor] | None = None, from_layer: int = 0,
                  batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """Head inputs of every item, in eval mode; from the stored frozen-layer ``states`` if given."""
        self.model.eval()
        hidden = self.model.frame_head.in_features
        passage = np.zeros((len(items), hidden), dtype=np.float32)
        pair = np.zeros((len(items), len(self.codebook.target_ids), self.model.stance_head.in_features),
                        dtype=np.float32)
        for idx in length_batches([len(x["input_ids"]) for x in items], batch_size):
            p, q = self.model.features(self.batch(items, idx, states), from_layer if states else 0)
            passage[idx], pair[idx] = p.cpu().numpy(), q.cpu().numpy()
        return passage, pair

    def _linear_probe(self, items: list[dict[str, list]], frames: np.ndarray, stance_y: np.ndarray,
                      states: list[torch.Tensor] | None = None, from_layer: int = 0) -> None:
        """Start both heads from logistic regressions fitted on the frozen encoder's features."""
        from sklearn.linear_model import LogisticRegression

        seed = self.config.train.seed
        balanced = "balanced" if self.config.train.class_weighting else None
        passage, pair = self._features(items, states, from_layer)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            w, b = self.model.frame_head.weight.data, self.model.frame_head.bias.data
            for j in range(frames.shape[1]):
                y = frames[:, j].astype(int)
                if y.min() == y.max():
                    continue
                lr = LogisticRegression(C=1.0, max_iter=1000, class_weight=balanced, random_state=seed).fit(passage, y)
                w[j] = torch.from_numpy(lr.coef_[0].astype(np.float32))
                b[j] = float(lr.intercept_[0])
            y = stance_y.reshape(-1)
            if len(set(y.tolist())) > 2:
                x = pair.reshape(-1, pair.shape[-1])
                lr = LogisticRegression(C=1.0, max_iter=1000, class_weight=balanced, random_state=seed).fit(x, y)
                ws, bs = self.model.stance_head.weight.data, self.model.stance_head.bias.data
                for row, cls in enumerate(lr.classes_):
                    ws[int(cls)] = torch.from_numpy(lr.coef_[row].astype(np.float32))
                    bs[int(cls)] = float(lr.intercept_[row])
        log.info("linear probe initialised the heads")

    def _validation_metrics(self, validation: TaskData) -> dict[str, float]:
        from training.metrics import evaluate_arrays  # scikit-learn: needed to train, not to serve

        scores = self.predict_scores(validation.texts)
        return evaluate_arrays(self.codebook, validation.frames, (scores.frames >= 0.5).astype(int),
                               validation.stance, scores.stance_argmax(), prefix="val_")

    # -- inference ------------------------------------------------------------------------
    @torch.inference_mode()
    def predict_scores(self, texts: Sequence[str], targets: Sequence[str] | None = None,
                       batch_size: int | None = None) -> Scores:
        """One forward pass per passage gives every frame and every target; ``targets`` selects
        which stance results are returned. ``batch_size`` defaults to ``inference_batch``."""
        batch_size = batch_size or self.inference_batch
        targets = list(targets) if targets is not None else self.codebook.target_ids
        cols = [self.codebook.target_ids.index(t) for t in targets]
        n = len(texts)
        frames = np.zeros((n, len(self.codebook.frame_ids)), dtype=np.float32)
        stance = np.zeros((n, len(self.codebook.target_ids), len(self.codebook.stance_labels)), dtype=np.float32)
        for idx, f, s in self._forward(texts, batch_size):
            frames[idx] = torch.sigmoid(f).cpu().numpy()
            stance[idx] = torch.softmax(s, dim=-1).cpu().numpy()
        scores = Scores(frames=frames, stance={t: stance[:, c] for t, c in zip(targets, cols, strict=True)})
        return self._blend(scores, texts, targets) if self.tfidf is not None else scores

    def _blend(self, scores: Scores, texts: Sequence[str], targets: list[str]) -> Scores:
        """``scores`` averaged with the TF-IDF model's, weighted by ``model.tfidf_blend``."""
        w = self.config.model.tfidf_blend
        other = self.tfidf.predict_scores(list(texts), targets)
        return Scores(frames=((1 - w) * scores.frames + w * other.frames).astype(np.float32),
                      stance={t: ((1 - w) * p + w * other.stance[t]).astype(np.float32) for t, p in scores.stance.items()})

    def _forward(self, texts: Sequence[str], batch_size: int = INFERENCE_BATCH
                 ) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor]]:
        """(indices, frame logits, stance logits) per length-sorted batch, temperature applied; call
        it under ``torch.inference_mode``."""
        items = self.encode(list(texts))
        if self.runner is not None:
            for i, item in enumerate(items):
                yield [i], *self.runner(self.collate([item]))
            return
        self.model.eval()
        for idx in length_batches([len(x["input_ids"]) for x in items], batch_size):
            yield idx, *self.model(self.collate([items[i] for i in idx]))

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
    def load(cls, path: Path, codebook: Codebook, config: ExperimentConfig) -> FinetuneClassifier:
        meta = read_json(path / "finetune.json")
        if meta.get("targets", codebook.target_ids) != codebook.target_ids:
            raise ValueError(f"{path}: saved targets {meta.get('targets')} differ from the codebook's")
        obj = cls(codebook, config, model_dir=path / "encoder", heads=path / "heads.pt")
        obj.best_epoch = int(meta.get("best_epoch", 0))
        obj.target_text = {**obj.target_text, **meta.get("target_text", {})}
        if config.model.tfidf_blend > 0:
            if TfidfRuntime.available(path / "tfidf"):
                obj.tfidf = TfidfRuntime(path / "tfidf", codebook)
            else:
                from training.models.tfidf import TfidfClassifier

                obj.tfidf = TfidfClassifier.load(path / "tfidf", codebook, config)
        if (path / ONNX_FILE).is_file():
            obj.int8_graph = path / ONNX_FILE
        return obj
