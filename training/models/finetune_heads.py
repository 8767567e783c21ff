"""The fine-tune's heads at both ends of training: the frozen layers' states computed once, the
linear probe that starts the heads, and the temperatures fitted on validation at the end."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import torch
from torch import nn

from stance_model.encoder import length_batches, run_layers
from training.data import TaskData

log = logging.getLogger(__name__)


class HeadPhases:
    """Phases of ``FinetuneClassifier`` that work on the heads and the frozen layers' output."""

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

    @torch.inference_mode()
    def head_inputs(self, items: list[dict[str, list]], states: list[torch.Tensor] | None = None,
                    from_layer: int = 0, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
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

    def linear_probe(self, items: list[dict[str, list]], frames: np.ndarray, stance_y: np.ndarray,
                      states: list[torch.Tensor] | None = None, from_layer: int = 0) -> None:
        """Start both heads from logistic regressions fitted on the frozen encoder's features."""
        from sklearn.linear_model import LogisticRegression

        seed = self.config.train.seed
        balanced = "balanced" if self.config.train.class_weighting else None
        passage, pair = self.head_inputs(items, states, from_layer)
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

    @torch.inference_mode()
    def calibrate(self, validation: TaskData) -> tuple[float, float]:
        """Fit the (frame, stance) temperatures that minimise validation log loss; return them."""
        self.model.temperature.fill_(1.0)
        n = len(validation.texts)
        frame_logits = torch.zeros((n, len(self.codebook.frame_ids)))
        stance_logits = torch.zeros((n, len(self.codebook.target_ids), len(self.codebook.stance_labels)))
        for idx, f, s, _ in self._forward(validation.texts):
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
