"""Transformer encoder plumbing shared by the embedding and fine-tuning families: loading, pooling,
length batching, int8."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from labels.codebook import Codebook
from stance_model.offline import force_offline


def load_encoder(path: Path):
    """Load tokenizer and encoder from a local folder (never the hub)."""
    force_offline()
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True)
    return tokenizer, in_private_memory(model)


def in_private_memory(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` with every parameter and buffer copied into memory of its own.

    ``from_pretrained`` may leave tensors memory-mapped from the safetensors file: a file changed
    or truncated on disk after loading would then change the scores of a running process, or kill
    it with SIGBUS."""
    with torch.no_grad():
        for t in [*module.parameters(), *module.buffers()]:
            t.data = t.data.clone()
    return module


def load_tokenizer(path: Path):
    """The tokenizer alone, from a local folder (never the hub)."""
    force_offline()
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path, local_files_only=True)


def target_texts(codebook: Codebook, mode: str) -> dict[str, str]:
    """How each stance target is presented as the first segment of a (target, passage) pair."""
    out = {}
    for t in codebook.targets:
        if mode == "name":
            out[t.id] = t.name
        elif mode == "description":
            out[t.id] = t.description
        else:
            out[t.id] = f"{t.name}: {t.description}"
    return out


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token vectors where ``mask`` is set: hidden (..., L, H), mask (..., L) -> (..., H).

    Leading dimensions broadcast, so ``mean_pool(hidden.unsqueeze(1), spans)`` pools T spans per
    sequence at once (hidden (B, 1, L, H), spans (B, T, L) -> (B, T, H))."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(-2) / m.sum(-2).clamp(min=1.0)


def run_layers(hidden: torch.Tensor, attention_mask: torch.Tensor, layers: Sequence[torch.nn.Module]) -> torch.Tensor:
    """Run encoder ``layers`` over hidden states (B, L, H) with the padding ``attention_mask`` (B, L).

    The mask is the additive (B, 1, 1, L) form that every attention implementation of BERT layers
    accepts; ``tests/training/test_models.py`` checks the result equals the whole encoder's."""
    mask = (1.0 - attention_mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
    for layer in layers:
        out = layer(hidden, mask)
        hidden = out[0] if isinstance(out, tuple) else out  # transformers 4 returns a tuple
    return hidden


def length_batches(lengths: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """Indices grouped into batches of similar length (longest first), so padding stays small."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    for i in range(0, len(order), batch_size):
        yield order[i:i + batch_size].tolist()


def set_threads(n: int) -> None:
    if n > 0:
        torch.set_num_threads(n)


INT8_APPLIED = "encoder projections int8 (dynamic, per channel; feed-forward outputs fp32; one passage per forward pass)"
"""What ``optimize_for_inference`` reports when ``quantize_linear_int8`` was applied."""


def quantize_linear_int8(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` with its attention and feed-forward input projections dynamically quantised to int8.

    Weights are quantised per output channel; each layer's feed-forward output projection stays
    fp32 (its inputs, after GELU, have the outliers that cost the most accuracy when quantised:
    quantising it too lost 0.02-0.03 macro-F1 on the test split). Activations are quantised with one
    scale per forward pass, computed over every token in it: batched with others, a passage's scores
    would depend on its neighbours (by up to 0.5 on the test split, changing 1-3% of decisions).
    Families that quantise therefore run one passage per forward pass (no neighbours, no padding),
    which makes a passage's scores the same whatever it is sent with
    (``tests/training/test_invariance.py``).
    """
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    torch.backends.quantized.engine = "x86" if "x86" in torch.backends.quantized.supported_engines else "qnnpack"
    names = {name for name, m in module.named_modules() if isinstance(m, torch.nn.Linear)
             and not (name.endswith("output.dense") and ".attention." not in name)}
    return quantize_dynamic(module.eval(), {n: per_channel_dynamic_qconfig for n in names}, dtype=torch.qint8)
