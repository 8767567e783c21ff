"""The fine-tuned model as an int8 ONNX Runtime graph: the fast serving path, one passage per run.

Training (``training.models.onnx_export``) writes the whole ``MultiTaskModel`` (encoder, pooling,
both heads, temperatures) to ONNX and quantises its matrix multiplies to int8 (weights per output
channel; activations with a scale computed on each run, over that run's tokens). ``Int8Runner`` runs it one passage at a
time: a passage's activations are then scaled by its own tokens only, so its scores are the same
whatever it is sent with (``tests/training/test_invariance.py``), and no passage is ever padded.
Integer matrix multiplies with VNNI are what make this faster than fp32 batches on the CPU
(``experiments/benchmarks/INT8.md``).

Export needs ``onnx`` (training); running needs only ``onnxruntime``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

ONNX_FILE = "model.int8.onnx"
INPUTS = ("input_ids", "token_type_ids", "attention_mask", "passage_mask", "target_masks")
ONNX_APPLIED = ("whole model int8 in ONNX Runtime (matrix multiplies int8: weights per channel, activations "
                "scaled per passage; one passage per run, one thread per run)")
"""What ``optimize_for_inference`` reports when the ONNX Runtime graph serves the model."""


def feeds(batch: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {k: batch[k].to(torch.int64).numpy() for k in INPUTS}


class Int8Runner:
    """An ONNX Runtime session over an exported graph, run one passage at a time on one thread
    (the service runs passages in parallel on its inference workers)."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # the graph is read into memory by the session: nothing stays mapped from the file
        self.session = ort.InferenceSession(Path(path).read_bytes(), options, providers=["CPUExecutionProvider"])

    def __call__(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(frame logits, stance logits, passage features) of a batch of one passage; features are
        ``None`` from a graph exported before they were an output."""
        out = self.session.run(None, feeds(batch))
        return torch.from_numpy(out[0]), torch.from_numpy(out[1]), torch.from_numpy(out[2]) if len(out) > 2 else None

    def __deepcopy__(self, memo: dict[int, Any]) -> Int8Runner:
        return self  # an inference session holds no per-call state
