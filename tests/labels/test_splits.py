import pytest

from labels.corpus import read_corpus
from labels.dataset import CorpusError, load_corpus
from labels.splits import SPLITS, SplitConfig, assign_splits, check_leakage, corpus_digest, split_passages
from tests.conftest import write_jsonl


@pytest.fixture
def passages(tiny_corpus_dir, codebook):
    found, problems = read_corpus(tiny_corpus_dir, codebook)
    assert not problems
    return found


def test_splits_are_deterministic_and_by_article(passages):
    a = assign_splits(passages)
    b = assign_splits(list(reversed(passages)))
    assert a == b
    grouped = split_passages(passages)
    assert check_leakage(grouped) == []
    articles = [{p.article_id for p in grouped[s]} for s in SPLITS]
    assert not (articles[0] & articles[1]) and not (articles[0] & articles[2]) and not (articles[1] & articles[2])
    assert all(grouped[s] for s in SPLITS)


def test_split_sizes_follow_fractions(passages):
    grouped = split_passages(passages)
    n = len(passages)
    assert 0.55 * n <= len(grouped["train"]) <= 0.85 * n
    assert sum(len(v) for v in grouped.values()) == n


def test_seed_changes_assignment(passages):
    assert assign_splits(passages, SplitConfig(seed=1)) != assign_splits(passages, SplitConfig(seed=2))


def test_stratification_spreads_labels(passages):
    grouped = split_passages(passages)
    for split in SPLITS:
        frames = {f for p in grouped[split] for f in p.frames}
        assert "security_guarantee" in frames, split


def test_leakage_check_catches_an_article_in_two_splits(passages):
    grouped = split_passages(passages)
    moved = grouped["test"][0]
    grouped["train"].append(moved)
    problems = check_leakage(grouped)
    assert any(p.kind == "split-leakage" and moved.article_id in p.message for p in problems)


def test_digest_tracks_content(passages, codebook):
    grouped = split_passages(passages)
    d1 = corpus_digest(grouped, codebook)
    changed = list(passages)
    p0 = changed[0]
    changed[0] = type(p0)(**{**p0.__dict__, "frames": ("escalation_risk",) if p0.frames != ("escalation_risk",) else ()})
    assert corpus_digest(split_passages(changed), codebook) != d1
    assert corpus_digest(split_passages(passages), codebook) == d1


def test_load_corpus_gives_a_datasetdict(tiny_corpus_dir, codebook):
    loaded = load_corpus(tiny_corpus_dir, codebook)
    assert set(loaded.splits) == set(SPLITS)
    row = loaded.splits["train"][0]
    assert set(row["stance"]) == set(codebook.target_ids)
    assert isinstance(row["frames"], list)
    assert len(loaded.digest) == 64


def test_load_corpus_refuses_bad_data(tmp_path, tiny_rows, codebook):
    write_jsonl(tmp_path / "a.jsonl", [*tiny_rows[:3], "{bad"])
    with pytest.raises(CorpusError, match="a.jsonl:4"):
        load_corpus(tmp_path, codebook)


def test_load_corpus_refuses_empty_split(tmp_path, tiny_rows, codebook):
    one_article = [r for r in tiny_rows if r["article_id"] == tiny_rows[0]["article_id"]]
    write_jsonl(tmp_path / "a.jsonl", one_article)
    with pytest.raises(CorpusError, match="empty-split"):
        load_corpus(tmp_path, codebook)
