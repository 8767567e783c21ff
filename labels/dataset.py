"""Load the validated corpus as a Hugging Face ``DatasetDict`` with its digest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset, DatasetDict, Features, Sequence, Value

from labels.codebook import Codebook, load_codebook
from labels.corpus import Problem, read_corpus
from labels.splits import SPLITS, SplitConfig, check_leakage, corpus_digest, split_passages


class CorpusError(ValueError):
    """The corpus has problems; ``problems`` lists each with file and line."""

    def __init__(self, problems: list) -> None:
        self.problems = problems
        head = "\n".join(str(p) for p in problems[:20])
        more = f"\n... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"{len(problems)} corpus problem(s):\n{head}{more}")


@dataclass(frozen=True)
class LoadedCorpus:
    splits: DatasetDict
    digest: str
    codebook: Codebook


def features(codebook: Codebook) -> Features:
    return Features({
        "id": Value("string"), "article_id": Value("string"), "kind": Value("string"),
        "date": Value("string"), "focus": Value("string"), "text": Value("string"),
        "frames": Sequence(Value("string")),
        "stance": {t: Value("string") for t in codebook.target_ids},
    })


def load_corpus(
    data_dir: str | Path | None = None,
    codebook: Codebook | None = None,
    split_config: SplitConfig | None = None,
) -> LoadedCorpus:
    """Validate the corpus and return its splits as a ``DatasetDict`` with the content digest.

    Raises ``CorpusError`` listing every problem (with file and line) if validation fails, and
    if any split is empty.
    """
    codebook = codebook or load_codebook()
    passages, problems = read_corpus(data_dir, codebook)
    if problems:
        raise CorpusError(problems)
    grouped = split_passages(passages, split_config)
    problems = check_leakage(grouped)
    empty = [s for s in SPLITS if not grouped[s]]
    if empty:
        problems += [Problem(str(data_dir), 0, "empty-split", f"split {s!r} has no passages") for s in empty]
    if problems:
        raise CorpusError(problems)
    feats = features(codebook)
    dd = DatasetDict({
        s: Dataset.from_list([p.record() for p in grouped[s]], features=feats) for s in SPLITS
    })
    return LoadedCorpus(splits=dd, digest=corpus_digest(grouped, codebook), codebook=codebook)
