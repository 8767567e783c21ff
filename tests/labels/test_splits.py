import pytest

from labels.corpus import read_corpus
from labels.dataset import CorpusError, load_corpus
from labels.splits import (
    SPLITS,
    SplitConfig,
    assign_splits,
    check_leakage,
    corpus_digest,
    source_group,
    split_passages,
)
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


def test_leakage_check_catches_a_lightly_reworded_passage(passages):
    grouped = split_passages(passages)
    original = grouped["train"][0]
    # same content words, different function words: no 12-word run survives, 8 content words do
    words = original.text.split()
    reworded = " ".join(w if i % 3 else {"the": "a", "a": "the"}.get(w, w) for i, w in enumerate(words))
    reworded = reworded.replace(" the ", " this ").replace(" and ", " as well as ")
    clone = type(original)(**{**original.__dict__, "id": "zz-a001-01", "article_id": "zz-a001", "text": reworded})
    grouped["test"].append(clone)
    problems = check_leakage(grouped)
    assert any(p.kind == "split-leakage" and "zz-a001-01" in p.message for p in problems)


def test_holdout_group_puts_one_source_group_in_test(passages):
    articles = sorted({p.article_id for p in passages})
    moved = set(articles[::3])  # a third of the articles become source group "q"
    passages = [type(p)(**{**p.__dict__, "article_id": "q" + p.article_id[1:], "id": "q" + p.id[1:]})
                if p.article_id in moved else p for p in passages]
    assert source_group("s3-a012") == "s" and {source_group(p.article_id) for p in passages} == {"p", "q"}
    held = "q"
    grouped = split_passages(passages, SplitConfig(holdout_group=held))
    assert grouped["test"] and all(source_group(p.article_id) == held for p in grouped["test"])
    rest = grouped["train"] + grouped["validation"]
    assert rest and all(source_group(p.article_id) != held for p in rest)
    assert grouped["train"] and grouped["validation"]
    with pytest.raises(ValueError, match="no article belongs"):
        assign_splits(passages, SplitConfig(holdout_group="zzz"))


def _as_group(passages, group: str) -> list:
    """The passages moved to new articles of source group ``group`` (ids ``<group>-<old id>``)."""
    return [type(p)(**{**p.__dict__, "article_id": f"{group}-{p.article_id}", "id": f"{group}-{p.id}"})
            for p in passages]


@pytest.mark.parametrize("corpus", ["tiny", "shipped"])
def test_train_groups_go_to_train_and_leave_every_other_split_alone(corpus, passages, codebook):
    if corpus == "shipped":
        passages, problems = read_corpus(None, codebook)
        assert problems == []
    before = assign_splits(passages)
    added = _as_group(passages[:7], "ann")
    after = assign_splits([*passages, *added])
    assert {a: s for a, s in after.items() if a in before} == before
    assert {after[p.article_id] for p in added} == {"train"}


def test_a_group_cannot_be_held_out_and_always_trained_on():
    with pytest.raises(ValueError, match="both held out"):
        SplitConfig(holdout_group="ann")
    assert SplitConfig(holdout_group="ann", train_groups=()).holdout_group == "ann"
