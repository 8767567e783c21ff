"""The TF-IDF model scored from plain arrays gives scikit-learn's answers."""

from __future__ import annotations

import numpy as np
import pytest

from labels.dataset import load_corpus
from stance_model.tfidf_arrays import TfidfRuntime
from tests.conftest import tiny_overrides
from training.data import to_task_data
from training.models import family_class
from training.overrides import build_config

ODD = ["Café naïve résumé — Zürich façade", "a b c", "x", "   many    spaces\tand\ttabs\n\nnewlines  ",
       "ALL CAPS NATO!!! Article 5???", "emoji 🇺🇦 and 🕊️ peace", "digits 2024 and 5-point plan", "",
       "İstanbul ǅ ﬁ ligature", "Kyiv's \"guarantees\" (so-called)"]


@pytest.fixture(scope="module")
def fitted(codebook):
    corpus = load_corpus(None, codebook)  # the real corpus: realistic vocabularies and idf
    train = to_task_data(corpus.splits["train"], codebook)
    val = to_task_data(corpus.splits["validation"], codebook)
    clf = family_class("tfidf")(codebook, build_config(tiny_overrides(model={"family": "tfidf"},
                                                                     data={"data_dir": None})))
    clf.fit(train, val)
    return clf, to_task_data(corpus.splits["test"], codebook).texts


def test_runtime_matches_scikit_learn_on_the_test_split_and_odd_text(fitted, codebook, tmp_path):
    clf, test_texts = fitted
    clf.save(tmp_path / "tfidf")
    runtime = TfidfRuntime(tmp_path / "tfidf", codebook)
    texts = test_texts + ODD
    want, got = clf.predict_scores(texts), runtime.predict_scores(texts)
    np.testing.assert_allclose(got.frames, want.frames, atol=1e-6, rtol=0)
    for t in codebook.target_ids:
        np.testing.assert_allclose(got.stance[t], want.stance[t], atol=1e-6, rtol=0)
    rows_sk = clf._features(texts).toarray()
    word, char = runtime.word.rows(texts), runtime.char.rows(texts)
    for i, ((wi, ww), (ci, cw)) in enumerate(zip(word, char, strict=True)):
        dense = np.zeros(rows_sk.shape[1])
        dense[wi], dense[ci + runtime.offset] = ww, cw
        np.testing.assert_allclose(dense, rows_sk[i], atol=1e-12, err_msg=repr(texts[i]))


def test_a_served_blend_imports_neither_scikit_learn_nor_training(registered_store, tmp_path):
    """The service runs on the model runtime alone: loading, self-checking and scoring the champion
    imports no training code and none of scikit-learn's stack."""
    import subprocess
    import sys

    code = ("import sys; from serving.model import ModelStore; "
            f"m = ModelStore('models:/{registered_store['name']}@champion', {registered_store['uri']!r}, "
            f"{str(tmp_path / 'c')!r}).load(); m.predictor.scores(['a passage about NATO']); "
            "import serving.app; serving.app.create_app; "
            "print(sorted(k for k in sys.modules if k.split('.')[0] in ('sklearn', 'pandas', 'pyarrow', 'training')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
