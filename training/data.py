"""Turn the corpus splits into arrays the model families train on."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from labels.codebook import Codebook
from labels.realdev import default_path, load_realdev

if TYPE_CHECKING:  # the service imports this module; `datasets` (and pyarrow) is only needed to train
    from datasets import Dataset

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskData:
    """One split as arrays: texts, a multi-hot frame matrix and stance class indices per target."""

    ids: list[str]
    texts: list[str]
    frames: np.ndarray  # (n, n_frames) float32 0/1, codebook order
    stance: dict[str, np.ndarray]  # target id -> (n,) int64 index into codebook.stance_labels

    def __len__(self) -> int:
        return len(self.texts)

    def stance_matrix(self, targets: list[str]) -> np.ndarray:
        """(n, len(targets)) stance class indices, one column per target in the given order."""
        return np.stack([self.stance[t] for t in targets], axis=1)


def to_task_data(ds: Dataset | Mapping[str, list], codebook: Codebook) -> TaskData:
    """Encode a split (a ``Dataset`` or a mapping of columns ``id``, ``text``, ``frames``, ``stance``)
    with the codebook's label order; raise ``ValueError`` on unknown labels."""
    frame_index = {f: i for i, f in enumerate(codebook.frame_ids)}
    label_index = {s: i for i, s in enumerate(codebook.stance_labels)}
    n = len(ds["id"])
    frames = np.zeros((n, len(frame_index)), dtype=np.float32)
    stance = {t: np.zeros(n, dtype=np.int64) for t in codebook.target_ids}
    for row, (pid, fr, st) in enumerate(zip(ds["id"], ds["frames"], ds["stance"], strict=True)):
        for f in fr:
            if f not in frame_index:
                raise ValueError(f"passage {pid}: frame {f!r} is not in the codebook")
            frames[row, frame_index[f]] = 1.0
        for t in codebook.target_ids:
            if st.get(t) not in label_index:
                raise ValueError(f"passage {pid}: stance {t}={st.get(t)!r} is not in the codebook")
            stance[t][row] = label_index[st[t]]
    return TaskData(ids=list(ds["id"]), texts=list(ds["text"]), frames=frames, stance=stance)


def subsample_articles(ds: Dataset, fraction: float, seed: int) -> Dataset:
    """Keep a deterministic ``fraction`` of the split's articles (for learning curves)."""
    if fraction >= 1.0:
        return ds
    articles = sorted(set(ds["article_id"]), key=lambda a: hashlib.sha256(f"{seed}:{a}".encode()).hexdigest())
    keep = set(articles[: max(1, round(len(articles) * fraction))])
    return ds.filter(lambda r: r["article_id"] in keep)


def load_realdev_data(setting: str, codebook: Codebook) -> tuple[TaskData | None, str | None]:
    """The real-news evaluation set as task data and its digest, per ``data.realdev``; (None, None)
    when it is ``off``, or ``auto`` and absent. Raises ``RealdevError`` when a named file is bad."""
    if setting == "off":
        return None, None
    path = default_path() if setting == "auto" else Path(setting)
    if setting == "auto" and not path.exists():
        log.warning("real-news evaluation set not found at %s (set STANCE_REALDEV or data.realdev); "
                    "this run has no realdev_* metrics", path)
        return None, None
    rd = load_realdev(path, codebook)
    columns = {k: [r[k] for r in rd.records] for k in ("id", "text", "frames", "stance")}
    return to_task_data(columns, codebook), rd.digest
