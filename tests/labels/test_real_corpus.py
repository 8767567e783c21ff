"""The shipped corpus passes validation and meets the counts the corpus is written to."""

from collections import Counter
from pathlib import Path

import pytest

from labels.__main__ import MIN_FRAME_SHARE, MIN_NO_FRAME_SHARE, MIN_OTHER_STATES_SHARE, MIN_STANCE_SHARE
from labels.agreement import DEFAULT_SECOND, agreement, cohen_kappa, read_second
from labels.corpus import KINDS, MIN_WORDS, read_corpus
from labels.splits import check_leakage, split_passages


@pytest.fixture(scope="module")
def corpus(codebook):
    passages, problems = read_corpus(None, codebook)
    assert problems == [], [str(p) for p in problems[:5]]
    return passages


def test_size_and_articles(corpus):
    assert len(corpus) >= 1200
    assert len({p.article_id for p in corpus}) >= 180
    assert set(Counter(p.kind for p in corpus)) == set(KINDS)


def test_realistic_mix_of_lengths(corpus):
    words = [len(p.text.split()) for p in corpus]
    assert min(words) >= MIN_WORDS and sum(w < 30 for w in words) / len(words) >= 0.08


def test_balance(corpus, codebook):
    n = len(corpus)
    for f in codebook.frame_ids:
        assert sum(f in p.frames for p in corpus) / n >= MIN_FRAME_SHARE, f
    assert sum(not p.frames for p in corpus) / n >= MIN_NO_FRAME_SHARE
    assert sum(p.focus != "ukraine" for p in corpus) / n >= MIN_OTHER_STATES_SHARE
    for t in codebook.target_ids:
        for v in codebook.stance_labels:
            assert sum(p.stance[t] == v for p in corpus) / n >= MIN_STANCE_SHARE, (t, v)


def test_splits_do_not_leak(corpus):
    assert check_leakage(split_passages(corpus)) == []


def test_agreement_sample(corpus, codebook):
    second = read_second(Path(DEFAULT_SECOND), codebook)
    assert len(second) >= 150
    rows = agreement(corpus, second, codebook)
    assert {r.label for r in rows} == {f"frame:{f}" for f in codebook.frame_ids} | {
        f"stance:{t}" for t in codebook.target_ids}
    assert all(-1.0 <= r.kappa <= 1.0 for r in rows)


def test_cohen_kappa_known_values():
    assert cohen_kappa(["a", "b", "a", "b"], ["a", "b", "a", "b"]) == 1.0
    assert cohen_kappa(["a", "a", "b", "b"], ["a", "b", "a", "b"]) == pytest.approx(0.0)
    # 20 items: observed 0.7, expected 0.5 -> kappa 0.4
    a = ["y"] * 10 + ["n"] * 10
    b = ["y"] * 7 + ["n"] * 3 + ["y"] * 3 + ["n"] * 7
    assert cohen_kappa(a, b) == pytest.approx(0.4)
