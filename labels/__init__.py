"""The label space: the codebook, the annotated corpus, its checks and its splits."""

from labels.codebook import Codebook, CodebookError, load_codebook

__all__ = ["Codebook", "CodebookError", "load_codebook"]
