"""Deterministic, stratified train/validation/test splits by article, and the corpus digest.

No article is ever in two splits: passages from one article share wording, sources and
labels, and splitting them would leak the test set into training.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from labels.codebook import Codebook
from labels.corpus import Passage, Problem, near_duplicates

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class SplitConfig:
    """Fractions of passages per split and the seed that orders articles."""

    train: float = 0.70
    validation: float = 0.15
    test: float = 0.15
    seed: int = 13
    holdout_group: str | None = None
    """If set, every article of this source group (see ``source_group``) goes to test and no other
    article does: train and validation share the others in their own proportions."""
    train_groups: tuple[str, ...] = ("ann",)
    """Source groups whose articles always go to train (``ann``: passages annotated from real news by
    ``python -m labels annotate``, so the next model learns from them). They are set aside before the
    stratified pass, so every other article keeps the split it has without them."""

    def __post_init__(self) -> None:
        fractions = (self.train, self.validation, self.test)
        if any(f <= 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
            raise ValueError(f"split fractions must be positive and sum to 1, got {fractions}")
        if self.holdout_group is not None and self.holdout_group in self.train_groups:
            raise ValueError(f"source group {self.holdout_group!r} cannot be both held out for test and always "
                             f"in train (train_groups {self.train_groups})")

    def fractions(self) -> dict[str, float]:
        return {"train": self.train, "validation": self.validation, "test": self.test}


def source_group(article_id: str) -> str:
    """The source group of an article: the letters its id starts with (``s`` for ``s3-a012``), one
    per round of writing briefs, so a group shares writers, registers and stock arguments."""
    m = re.match(r"[a-z]+", article_id)
    return m.group(0) if m else ""


def _strata(p: Passage) -> list[str]:
    """The labels a passage contributes to stratification."""
    keys = [f"frame:{f}" for f in p.frames] or ["frame:none"]
    keys += [f"stance:{t}:{v}" for t, v in p.stance.items() if v != "neutral"]
    keys.append("focus:ukraine" if p.focus == "ukraine" else "focus:other")
    return keys


def assign_splits(passages: Sequence[Passage], config: SplitConfig | None = None) -> dict[str, str]:
    """Map every article id to a split.

    Articles are visited in an order fixed by a hash of the seed and the article id; each goes
    to the split whose label and size quotas it fills best (a greedy iterative stratification).
    The result depends only on the corpus content and the seed. Articles of ``config.train_groups``
    go to train and take no part in the pass, so adding them changes no other article's split.
    """
    config = config or SplitConfig()
    fractions = config.fractions()
    choices = SPLITS
    assignment: dict[str, str] = {p.article_id: "train" for p in passages
                                  if source_group(p.article_id) in config.train_groups}
    passages = [p for p in passages if p.article_id not in assignment]
    by_article: dict[str, list[Passage]] = defaultdict(list)
    for p in passages:
        by_article[p.article_id].append(p)
    if config.holdout_group is not None:
        held = {a for a in by_article if source_group(a) == config.holdout_group}
        if not held:
            raise ValueError(f"no article belongs to source group {config.holdout_group!r}")
        assignment.update({a: "test" for a in held})
        passages = [p for p in passages if p.article_id not in held]
        by_article = {a: ps for a, ps in by_article.items() if a not in held}
        rest = config.train + config.validation
        fractions = {"train": config.train / rest, "validation": config.validation / rest, "test": 0.0}
        choices = ("train", "validation")
    totals: Counter[str] = Counter()
    for p in passages:
        totals.update(_strata(p))
    n_total = max(len(passages), 1)
    current = {s: Counter() for s in SPLITS}
    sizes = {s: 0 for s in SPLITS}

    def order(article_id: str) -> str:
        return hashlib.sha256(f"{config.seed}:{article_id}".encode()).hexdigest()

    for article_id in sorted(by_article, key=order):
        members = by_article[article_id]
        counts: Counter[str] = Counter()
        for p in members:
            counts.update(_strata(p))

        def score(split: str) -> float:
            label_need = sum(
                c * (fractions[split] * totals[k] - current[split][k]) / totals[k] for k, c in counts.items()  # noqa: B023
            )
            size_need = len(members) * (fractions[split] * n_total - sizes[split]) / n_total  # noqa: B023
            return label_need + 2.0 * size_need

        best = max(choices, key=lambda s: (score(s), -SPLITS.index(s)))
        assignment[article_id] = best
        current[best].update(counts)
        sizes[best] += len(members)
    return assignment


def split_passages(passages: Sequence[Passage], config: SplitConfig | None = None) -> dict[str, list[Passage]]:
    """Group passages by split, keeping corpus order inside each split."""
    assignment = assign_splits(passages, config)
    out: dict[str, list[Passage]] = {s: [] for s in SPLITS}
    for p in passages:
        out[assignment[p.article_id]].append(p)
    return out


def check_leakage(splits: Mapping[str, Sequence[Passage]]) -> list[Problem]:
    """Problems if an article, a text or a near-duplicate text appears in two splits: a shared run of
    ``NEAR_DUP_RUN`` words, or of ``NEAR_DUP_CONTENT_RUN`` content words (light rewording)."""
    problems: list[Problem] = []
    owner: dict[str, str] = {}
    for split, items in splits.items():
        for p in items:
            prev = owner.setdefault(p.article_id, split)
            if prev != split:
                problems.append(Problem(p.file, p.line, "split-leakage",
                                        f"article {p.article_id!r} is in both {prev} and {split}"))
    split_of = {p.id: s for s, items in splits.items() for p in items}
    everything = [p for items in splits.values() for p in items]
    for a, b, shared, _ in near_duplicates(everything):
        if split_of[a.id] != split_of[b.id]:
            problems.append(Problem(b.file, b.line, "split-leakage",
                                    f"{b.id} ({split_of[b.id]}) repeats text of {a.id} ({split_of[a.id]}): '{shared}'"))
    return problems


def corpus_digest(splits: Mapping[str, Sequence[Passage]], codebook: Codebook) -> str:
    """A content digest of the split corpus and the codebook: equal digests mean equal training data."""
    h = hashlib.sha256()
    h.update(codebook.sha256.encode())
    for split in SPLITS:
        for p in sorted(splits.get(split, []), key=lambda x: x.id):
            h.update(json.dumps([split, p.record()], sort_keys=True, ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()


def split_statistics(splits: Mapping[str, Sequence[Passage]], codebook: Codebook) -> dict[str, dict[str, float]]:
    """Per split: passages, articles, share of each frame, of no frame, and of each stance value."""
    stats: dict[str, dict[str, float]] = {}
    for split, items in splits.items():
        n = max(len(items), 1)
        row: dict[str, float] = {
            "passages": len(items),
            "articles": len({p.article_id for p in items}),
            "no_frame": sum(not p.frames for p in items) / n,
            "other_states": sum(p.focus != "ukraine" for p in items) / n,
        }
        for f in codebook.frame_ids:
            row[f] = sum(f in p.frames for p in items) / n
        for t in codebook.target_ids:
            for v in codebook.stance_labels:
                row[f"{t}={v}"] = sum(p.stance[t] == v for p in items) / n
        stats[split] = row
    return stats
