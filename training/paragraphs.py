"""Paragraph merging: two neighbouring passages of one article read as one longer paragraph.

Real news paragraphs are longer than most corpus passages and carry their stance in one sentence
among reported ones. ``paragraph_pairs`` joins consecutive passages of an article (the first with
the second, the third with the fourth, ...) into examples with the labels the codebook gives the
joined text: a frame if either part carries it; per target, the side either part takes (a side
beside neutral stays that side). Pairs whose parts take opposite sides on a target are left out:
the codebook gives such a passage no single label without reading it. A part without
sentence-final punctuation (a headline) is never joined, nor a pair longer than ``max_words``.

``epoch_plan`` decides, per epoch, which pairs replace their two parts (so an epoch holds about as
many tokens as without merging, in fewer, longer examples). Nothing here touches validation, test
or realdev.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from training.data import TaskData

_SENTENCE_END = re.compile(r"[.!?\"'\u2019\u201d)]\s*$")


def article_of(passage_id: str) -> str:
    """The article a corpus passage belongs to: its id without the last ``-NN`` part."""
    return passage_id.rsplit("-", 1)[0]


@dataclass
class ParagraphPairs:
    """Joined examples: ``parts[k]`` = (row of the first part, row of the second) in the split."""

    parts: list[tuple[int, int]]
    texts: list[str]
    frames: np.ndarray  # (k, n_frames) float32
    stance: np.ndarray  # (k, n_targets) int64, target order of ``stance_y``

    def __len__(self) -> int:
        return len(self.parts)


def joined_stance(a: np.ndarray, b: np.ndarray, neutral: int) -> np.ndarray | None:
    """Per-target stance of two joined parts: a side beside neutral, or the side both take; ``None``
    if they take different sides on any target."""
    out = np.where(a == neutral, b, a)
    conflict = (a != neutral) & (b != neutral) & (a != b)
    return None if conflict.any() else out


def paragraph_pairs(data: TaskData, stance_y: np.ndarray, neutral: int, max_words: int = 110) -> ParagraphPairs:
    """Consecutive passages of each article joined in twos (see the module docstring), in the
    split's row order. ``stance_y`` is ``data.stance_matrix(targets)``; ``neutral`` the index of
    the codebook's neutral label."""
    rows_by_article: dict[str, list[int]] = {}
    for row, pid in enumerate(data.ids):
        rows_by_article.setdefault(article_of(pid), []).append(row)
    parts, texts, frames, stance = [], [], [], []
    for rows in rows_by_article.values():
        rows = sorted(rows, key=lambda r: data.ids[r])
        for i, j in zip(rows[0::2], rows[1::2]):
            a, b = data.texts[i].strip(), data.texts[j].strip()
            if not (_SENTENCE_END.search(a) and _SENTENCE_END.search(b)):
                continue
            if len(a.split()) + len(b.split()) > max_words:
                continue
            joined = joined_stance(stance_y[i], stance_y[j], neutral)
            if joined is None:
                continue
            parts.append((i, j))
            texts.append(f"{a} {b}")
            frames.append(np.maximum(data.frames[i], data.frames[j]))
            stance.append(joined)
    n_frames, n_targets = data.frames.shape[1], stance_y.shape[1]
    return ParagraphPairs(parts, texts,
                          np.array(frames, dtype=np.float32).reshape(-1, n_frames),
                          np.array(stance, dtype=np.int64).reshape(-1, n_targets))


def epoch_plan(n_rows: int, pairs: ParagraphPairs, share: float, rng: np.random.Generator) -> list[int]:
    """One epoch's examples as indices into ``rows + pairs`` (pair k is index ``n_rows + k``): a
    ``share`` of the pairs drawn at random, in place of their parts; every other row as it is."""
    if share <= 0 or not len(pairs):
        return list(range(n_rows))
    chosen = np.flatnonzero(rng.random(len(pairs)) < share)
    dropped = {r for k in chosen for r in pairs.parts[k]}
    return [r for r in range(n_rows) if r not in dropped] + [n_rows + int(k) for k in chosen]
