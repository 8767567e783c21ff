"""Hugging Face libraries never reach the network: models load from local folders only."""

from __future__ import annotations

import os


def force_offline() -> None:
    """Make every Hugging Face library refuse to reach the hub for the rest of the process."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ[var] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
