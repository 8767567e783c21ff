"""The fitted TF-IDF model as plain arrays, scored without scikit-learn.

The TF-IDF half of a blended fine-tune is trained with scikit-learn, but importing scikit-learn in
the service costs about 150 MB of resident memory and a second of start-up (it pulls in SciPy,
pandas and pyarrow). ``export`` writes what prediction needs (each vectoriser's vocabulary and
idf weights, each head's coefficients) to ``runtime.npz`` and ``runtime.json``; ``TfidfRuntime``
re-does the same arithmetic with the standard library and NumPy: the word analyser (lower case,
accents stripped, tokens of two or more word characters, unigrams and bigrams), the
character analyser (3- to 5-grams inside space-padded words), sublinear term frequency, idf,
L2 normalisation per vectoriser, then the logistic heads. ``tests/training/test_tfidf_runtime.py``
checks it against scikit-learn on the whole corpus.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stance_model.base import Scores

ARRAYS, SPEC = "runtime.npz", "runtime.json"
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_SPACES = re.compile(r"\s\s+")


def export(clf: Any, path: Path) -> None:
    """Write the arrays of a fitted TF-IDF model (``TfidfModel``) into ``path``."""
    arrays: dict[str, np.ndarray] = {}
    spec: dict[str, Any] = {"vectorizers": {}, "frames": [], "stance": {}}
    for name, vec in (("word", clf.word), ("char", clf.char)):
        spec["vectorizers"][name], arrays[f"{name}_idf"] = describe_vectorizer(vec)

    def head(model: Any, key: str) -> Any:
        if isinstance(model, (int, float)):
            return model
        arrays[f"{key}_coef"] = model.coef_.astype(np.float64)
        arrays[f"{key}_intercept"] = model.intercept_.astype(np.float64)
        return {"classes": [int(c) for c in model.classes_]}

    spec["frames"] = [head(m, f"frame{i}") for i, m in enumerate(clf.heads.frame_models)]
    spec["stance"] = {t: head(m, f"stance_{t}") for t, m in clf.heads.stance_models.items()}
    path.mkdir(parents=True, exist_ok=True)
    np.savez(path / ARRAYS, **arrays)
    (path / SPEC).write_text(json.dumps(spec))


def describe_vectorizer(vec: Any) -> tuple[dict[str, Any], np.ndarray]:
    """A fitted scikit-learn ``TfidfVectorizer`` as (settings and terms, idf weights) for ``Vectorizer``."""
    vocab = vec.vocabulary_
    terms = sorted(vocab, key=vocab.get)
    spec = {"analyzer": vec.analyzer, "ngram_range": list(vec.ngram_range), "lowercase": vec.lowercase,
            "strip_accents": vec.strip_accents, "sublinear_tf": vec.sublinear_tf, "norm": vec.norm, "terms": terms}
    return spec, vec.idf_.astype(np.float64)


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _word_grams(text: str, low: int, high: int) -> list[str]:
    tokens = _TOKEN.findall(text)
    grams = list(tokens) if low == 1 else []
    for n in range(max(low, 2), high + 1):
        grams += [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return grams


def _char_wb_grams(text: str, low: int, high: int) -> list[str]:
    grams = []
    for word in _SPACES.sub(" ", text).split():
        padded = f" {word} "
        for n in range(low, high + 1):
            if len(padded) <= n:  # the whole padded word once, and no longer grams
                grams.append(padded)
                break
            grams += [padded[i:i + n] for i in range(len(padded) - n + 1)]
    return grams


class Vectorizer:
    """A TF-IDF vectoriser's transform, from ``describe_vectorizer``'s output."""

    def __init__(self, spec: dict[str, Any], idf: np.ndarray) -> None:
        if spec["analyzer"] not in ("word", "char_wb") or spec["norm"] != "l2":
            raise ValueError(f"unsupported TF-IDF settings {spec['analyzer']!r}, norm {spec['norm']!r}")
        self.spec = spec
        self.index = {t: i for i, t in enumerate(spec["terms"])}
        self.idf = idf

    def rows(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """(feature indices, L2-normalised weights) of each text."""
        low, high = self.spec["ngram_range"]
        out = []
        for text in texts:
            if self.spec["lowercase"]:
                text = text.lower()
            if self.spec["strip_accents"] == "unicode":
                text = _strip_accents(text)
            grams = _word_grams(text, low, high) if self.spec["analyzer"] == "word" else _char_wb_grams(text, low, high)
            counts = Counter(self.index[g] for g in grams if g in self.index)
            idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            if self.spec["sublinear_tf"]:
                tf = 1.0 + np.log(tf)
            w = tf * self.idf[idx]
            norm = np.sqrt(np.dot(w, w))
            out.append((idx, w / norm if norm > 0 else w))
        return out


def joint_rows(word: Vectorizer, char: Vectorizer, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each text's (feature indices, weights) over the word vocabulary followed by the character one,
    as scikit-learn's ``hstack`` of the two vectorisers lays them out."""
    offset = len(word.index)
    return [(np.concatenate([wi, ci + offset]), np.concatenate([ww, cw]))
            for (wi, ww), (ci, cw) in zip(word.rows(texts), char.rows(texts), strict=True)]


class TfidfRuntime:
    """Scores of a fitted TF-IDF model, from ``export``'s files, without scikit-learn."""

    def __init__(self, path: Path, codebook: Any) -> None:
        self.source = Path(path)
        spec = json.loads((path / SPEC).read_text())
        with np.load(path / ARRAYS) as z:
            arrays = {k: z[k] for k in z.files}
        self.codebook = codebook
        self.word = Vectorizer(spec["vectorizers"]["word"], arrays["word_idf"])
        self.char = Vectorizer(spec["vectorizers"]["char"], arrays["char_idf"])
        self.offset = len(self.word.index)  # where the character features start
        self.frames = [self._head(h, arrays, f"frame{i}") for i, h in enumerate(spec["frames"])]
        self.stance = {t: self._head(h, arrays, f"stance_{t}") for t, h in spec["stance"].items()}

    @staticmethod
    def _head(h: Any, arrays: dict[str, np.ndarray], key: str) -> Any:
        if not isinstance(h, dict):
            return h
        return {"classes": h["classes"], "coef": arrays[f"{key}_coef"], "intercept": arrays[f"{key}_intercept"]}

    def save(self, path: Path) -> None:
        """Copy the folder this runtime was read from (a loaded model saved again)."""
        import shutil

        shutil.copytree(self.source, path, dirs_exist_ok=True)

    @staticmethod
    def available(path: Path) -> bool:
        return (path / SPEC).is_file() and (path / ARRAYS).is_file()

    def _decision(self, head: dict[str, Any], rows: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        coef = head["coef"]
        return np.stack([coef[:, idx] @ w for idx, w in rows]) + head["intercept"]

    def predict_scores(self, texts: Sequence[str], targets: Sequence[str] | None = None) -> Scores:
        texts = list(texts)
        rows = joint_rows(self.word, self.char, texts)
        n = len(texts)
        frames = np.zeros((n, len(self.frames)), dtype=np.float64)
        for j, head in enumerate(self.frames):
            if isinstance(head, dict):
                frames[:, j] = 1.0 / (1.0 + np.exp(-self._decision(head, rows)[:, 0]))
            else:
                frames[:, j] = head
        labels = len(self.codebook.stance_labels)
        stance = {}
        for t in (list(targets) if targets is not None else self.codebook.target_ids):
            head = self.stance[t]
            out = np.zeros((n, labels), dtype=np.float32)
            if isinstance(head, dict):
                d = self._decision(head, rows)
                if d.shape[1] == 1:  # two classes: one logistic decision for the second
                    p1 = 1.0 / (1.0 + np.exp(-d[:, 0]))
                    probs = np.stack([1.0 - p1, p1], axis=1)
                else:
                    e = np.exp(d - d.max(axis=1, keepdims=True))
                    probs = e / e.sum(axis=1, keepdims=True)
                out[:, head["classes"]] = probs
            else:
                out[:, int(head)] = 1.0
            stance[t] = out
        return Scores(frames=frames.astype(np.float32), stance=stance)
