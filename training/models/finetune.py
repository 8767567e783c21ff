"""Fine-tuning all-MiniLM-L6-v2 as the multi-task cross-encoder of ``stance_model.families.finetune``.

``fit`` runs named phases in order: the TF-IDF partner of the blend, the losses, freezing (and
caching the frozen layers' output), the linear probe, the epochs (the best by validation kept,
early stopping), the weight interpolation toward the start, then on the CPU: calibration and the
int8 export. The runtime class predicts, saves and loads.
"""

from __future__ import annotations

import copy
import logging
import random
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from labels.codebook import Codebook
from stance_model.base import Scores
from stance_model.encoder import length_batches, set_threads
from stance_model.families.finetune import FinetuneModel, blend
from stance_model.onnx_runtime import ONNX_FILE
from training.config import ExperimentConfig
from training.data import TaskData
from training.models.base import Classifier, EpochCallback, class_weights, model_spec
from training.models.finetune_heads import HeadPhases
from training.models.onnx_export import export_int8
from training.pretrained import encoder_dir
from training.thresholds import temper

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators: at construction (the heads' initial weights)
    and at the start of ``fit`` (dropout and everything after, whatever ran in between)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


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


def interpolated(start: dict[str, torch.Tensor], tuned: dict[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor]:
    """The state dict ``(1 - alpha) * start + alpha * tuned`` (integer buffers from ``tuned``)."""
    return {k: torch.lerp(start[k], v, alpha) if v.is_floating_point() else v for k, v in tuned.items()}


@dataclass
class _ValidationCache:
    """What validation passes during ``fit`` reuse (``FinetuneClassifier.validation_cache``)."""

    validation: TaskData
    items: list[dict[str, list]]
    states: list[torch.Tensor]
    from_layer: int
    tfidf: Scores | None


class FinetuneClassifier(FinetuneModel, HeadPhases, Classifier):
    def __init__(self, codebook: Codebook, config: ExperimentConfig) -> None:
        """The base encoder of ``config`` with fresh heads (weights drawn with ``train.seed``)."""
        set_threads(config.train.torch_threads)
        seed_everything(config.train.seed)
        self.config = config
        self._tmp: str | None = None  # a scratch folder, made only when needed (see ``workdir``)
        self._validation_cache: _ValidationCache | None = None  # set while ``fit`` runs
        super().__init__(codebook, model_spec(config),
                         model_dir=encoder_dir(config.model.base_model, self.workdir, config.train.seed))

    @property
    def workdir(self) -> Path:
        """Scratch folder for training (a built tiny encoder, the exported graph), removed with the
        object or at exit."""
        if self._tmp is None:
            self._tmp = tempfile.mkdtemp(prefix="finetune-")
            weakref.finalize(self, shutil.rmtree, self._tmp, True)
        return Path(self._tmp)

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
        stopping), the weight interpolation toward the start, then on the CPU: calibration and the
        int8 export."""
        cfg = self.config.train
        if cfg.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"train.device={cfg.device} but torch sees no CUDA device; use train.device=cpu")
        seed_everything(cfg.seed)
        self.train_features = None
        self.fit_blend_partner(train, validation)
        self.device = torch.device(cfg.device)
        self.model.to(self.device)
        rng = np.random.default_rng(cfg.seed)
        items = self.encode(train.texts)
        stance_y = train.stance_matrix(self.codebook.target_ids)
        losses = self.loss_functions(train, stance_y)
        from_layer, states = self.freeze_and_cache(items)
        self._validation_cache = self.validation_cache(validation, from_layer)
        if cfg.linear_probe_init:
            self.linear_probe(items, train.frames, stance_y, states, from_layer)
        start = {k: v.detach().clone() for k, v in self.model.state_dict().items()} if cfg.interpolation_min < 1 else None
        self.train_epochs(_Epochs(train, validation, items, stance_y, states, from_layer, losses, rng), on_epoch)
        if start is not None:
            self.interpolate(start, validation)
        self._validation_cache = None
        self.finish(validation)
        self.train_features = self.kept_features(items, states, from_layer)

    def kept_features(self, items: list[dict[str, list]], states: list[torch.Tensor] | None,
                      from_layer: int) -> np.ndarray | None:
        """Phase: the training passages' features from their cached frozen-layer states (only the
        layers above run), for the ``in_scope`` detector; ``None`` without cached states or when
        they were computed on another device than the CPU the finished model is on."""
        if states is None or not states or states[0].device.type != "cpu":
            return None
        return self.head_inputs(items, states, from_layer)[0]

    def fit_blend_partner(self, train: TaskData, validation: TaskData) -> None:
        """Phase: train the TF-IDF model averaged into the scores (``model.tfidf_blend``); first, so
        every epoch is validated (and the best one chosen) as the blend that is served."""
        if self.config.model.tfidf_blend > 0:
            from training.models.tfidf import TfidfClassifier  # scikit-learn: to train, not to serve

            self.tfidf = TfidfClassifier(self.codebook, self.config)
            self.tfidf.fit(train, validation)

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

    def interpolate(self, start: dict[str, torch.Tensor], validation: TaskData) -> float:
        """Phase: weight-space interpolation between the weights fine-tuning started from (``start``:
        the pretrained encoder, linear-probe heads) and the tuned ones, ``(1 - a) * start + a * tuned``
        for a from 1.0 down to ``train.interpolation_min`` in steps of 0.1. Keeps the floor if its
        validation score is within ``train.interpolation_band`` of a = 1's; otherwise walks down from
        0.9 and stops before the first a that falls more than the band below, keeping the last a
        before it. Returns the kept a."""
        cfg = self.config.train
        tuned = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        alphas = [round(1.0 - 0.1 * i, 2) for i in range(11) if 1.0 - 0.1 * i >= cfg.interpolation_min - 1e-9]
        self.fit_metrics = {}

        def score(alpha: float) -> float:
            self.model.load_state_dict(interpolated(start, tuned, alpha))
            m = self._validation_metrics(validation)
            got = (m["val_frames_macro_f1"] + m["val_stance_macro_f1"]) / 2
            self.fit_metrics[f"interpolation_val_score_{round(alpha * 100):03d}"] = got
            return got

        reference, chosen = score(1.0), 1.0
        # the floor first: when it is within the band the walk would end there on a curve that falls
        # steadily, and two validation passes replace the whole walk
        if len(alphas) > 1 and score(alphas[-1]) >= reference - cfg.interpolation_band:
            chosen = alphas[-1]
        else:
            for alpha in alphas[1:-1]:
                if score(alpha) < reference - cfg.interpolation_band:
                    break
                chosen = alpha
        self.model.load_state_dict(interpolated(start, tuned, chosen))
        self.fit_metrics["interpolation_alpha"] = chosen
        log.info("weight interpolation: kept a = %.1f (validation score %.4f; tuned weights %.4f)", chosen,
                 self.fit_metrics[f"interpolation_val_score_{round(chosen * 100):03d}"], reference)
        return chosen

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

    def validation_cache(self, validation: TaskData, from_layer: int) -> _ValidationCache | None:
        """Validation's frozen-layer states and the TF-IDF partner's scores, computed once for the
        validation passes of ``fit`` (each epoch's, the interpolation's): frozen layers and the
        TF-IDF model do not change while the layers above train. ``None`` without frozen layers."""
        if not from_layer or len(validation) == 0:
            return None
        items = self.encode(validation.texts)
        tfidf = self.tfidf.predict_scores(validation.texts) if self.tfidf is not None else None
        return _ValidationCache(validation, items, self.frozen_states(items, from_layer), from_layer, tfidf)

    @torch.inference_mode()
    def _cached_scores(self, cache: _ValidationCache) -> Scores:
        """Validation's scores from the cached frozen-layer states: only the layers above them run."""
        self.model.eval()
        batches = ((idx, *self.model.with_features(self.batch(cache.items, idx, cache.states), cache.from_layer))
                   for idx in length_batches([len(x["input_ids"]) for x in cache.items], 32))
        scores = self.collect_scores(len(cache.items), batches, self.codebook.target_ids)
        return blend(scores, cache.tfidf, self.spec.tfidf_blend) if cache.tfidf is not None else scores

    def _validation_metrics(self, validation: TaskData) -> dict[str, float]:
        from training.metrics import evaluate_arrays  # scikit-learn: needed to train, not to serve

        cache = self._validation_cache
        use_cache = cache is not None and cache.validation is validation and self.device.type == "cpu"
        scores = self._cached_scores(cache) if use_cache else self.predict_scores(validation.texts)
        return evaluate_arrays(self.codebook, validation.frames, (scores.frames >= 0.5).astype(int),
                               validation.stance, scores.stance_argmax(), prefix="val_")
