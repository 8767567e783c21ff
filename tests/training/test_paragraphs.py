"""Joined paragraphs: which neighbours are joined, the labels the joined text gets, each epoch's plan."""

import numpy as np
import pytest

from tests.conftest import tiny_overrides
from training.data import TaskData
from training.models import family_class
from training.overrides import build_config
from training.paragraphs import epoch_plan, joined_stance, paragraph_pairs

FAVOR, AGAINST, NEUTRAL = 0, 1, 2


def split(rows: list[tuple[str, str, list[int], list[int]]]) -> tuple[TaskData, np.ndarray]:
    """(id, text, frame indices, [stance per target]) rows as task data and its stance matrix."""
    frames = np.zeros((len(rows), 3), dtype=np.float32)
    for i, (_, _, fr, _) in enumerate(rows):
        frames[i, fr] = 1.0
    stance = np.array([r[3] for r in rows], dtype=np.int64)
    data = TaskData(ids=[r[0] for r in rows], texts=[r[1] for r in rows], frames=frames,
                    stance={"a": stance[:, 0], "b": stance[:, 1]})
    return data, data.stance_matrix(["a", "b"])


@pytest.mark.parametrize(("a", "b", "joined"), [
    ([NEUTRAL, NEUTRAL], [NEUTRAL, NEUTRAL], [NEUTRAL, NEUTRAL]),
    ([FAVOR, NEUTRAL], [NEUTRAL, AGAINST], [FAVOR, AGAINST]),  # a side beside neutral stays
    ([AGAINST, NEUTRAL], [AGAINST, NEUTRAL], [AGAINST, NEUTRAL]),
    ([FAVOR, NEUTRAL], [AGAINST, NEUTRAL], None),  # opposite sides: no single label
])
def test_joined_stance(a, b, joined):
    got = joined_stance(np.array(a), np.array(b), NEUTRAL)
    assert (got is None) if joined is None else got.tolist() == joined


def test_neighbours_of_one_article_are_joined_in_twos_with_the_labels_of_the_whole():
    data, stance_y = split([
        ("x1-a001-02", "Second part.", [1], [NEUTRAL, FAVOR]),
        ("x1-a001-01", "First part.", [0], [AGAINST, NEUTRAL]),
        ("x1-a001-03", "Third part, left alone.", [], [NEUTRAL, NEUTRAL]),
        ("x1-a002-01", "A headline without a full stop", [], [NEUTRAL, NEUTRAL]),
        ("x1-a002-02", "Body.", [], [NEUTRAL, NEUTRAL]),
        ("x1-a003-01", "Argues for.", [2], [FAVOR, NEUTRAL]),
        ("x1-a003-02", "Argues against.", [2], [AGAINST, NEUTRAL]),
        ("x1-a004-01", "Long " * 60 + ".", [], [NEUTRAL, NEUTRAL]),
        ("x1-a004-02", "Long " * 60 + ".", [], [NEUTRAL, NEUTRAL]),
        ("x2-a001-01", "Other writer, same article number.", [], [NEUTRAL, NEUTRAL]),
    ])
    pairs = paragraph_pairs(data, stance_y, NEUTRAL)
    # parts in passage order; the headline, the opposite sides and the over-long pair are not joined;
    # articles of different files never meet
    assert pairs.parts == [(1, 0)]
    assert pairs.texts == ["First part. Second part."]
    assert pairs.frames.tolist() == [[1.0, 1.0, 0.0]]
    assert pairs.stance.tolist() == [[AGAINST, FAVOR]]


def test_each_epoch_trains_on_a_share_of_the_pairs_in_place_of_their_parts():
    rows = [(f"x1-a{a:03d}-0{p}", f"Passage {a}.{p}.", [], [NEUTRAL, NEUTRAL]) for a in range(200) for p in (1, 2)]
    data, stance_y = split(rows)
    pairs = paragraph_pairs(data, stance_y, NEUTRAL)
    assert len(pairs) == 200
    assert epoch_plan(len(data), pairs, 0.0, np.random.default_rng(0)) == list(range(400))
    plan = epoch_plan(len(data), pairs, 0.5, np.random.default_rng(0))
    chosen = [i - 400 for i in plan if i >= 400]
    assert 70 < len(chosen) < 130
    kept = {i for i in plan if i < 400}
    for k in range(200):
        i, j = pairs.parts[k]
        # a pair is either joined or seen as its two parts, never both, never neither
        assert (k in chosen) != ({i, j} <= kept)
        assert (k in chosen) or {i, j} <= kept
    assert len(plan) == 400 - len(chosen)


def test_a_fine_tune_trains_on_joined_paragraphs_and_logs_how_many(codebook):
    from labels.dataset import load_corpus
    from tests.conftest import TINY_CORPUS
    from training.data import to_task_data

    loaded = load_corpus(TINY_CORPUS, codebook)
    splits = {s: to_task_data(loaded.splits[s], codebook) for s in loaded.splits}
    cfg = build_config(tiny_overrides(model={"freeze_layers": 1}, train={"paragraph_share": 1.0, "max_steps": 0}))
    clf = family_class("finetune")(codebook, cfg)
    seen: list[list[int]] = []
    batches = clf.batches
    clf.batches = lambda lengths, rng, indices=None: seen.append(list(indices)) or batches(lengths, rng, indices)
    clf.fit(splits["train"], splits["validation"])
    n = len(splits["train"])
    joined = int(clf.fit_metrics["paragraph_pairs"])
    assert joined > 0
    assert seen and all(sum(i >= n for i in plan) == joined for plan in seen)  # share 1.0: every pair, every epoch
