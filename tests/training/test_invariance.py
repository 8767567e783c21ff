"""One passage, one answer: a passage's scores do not depend on what it is batched or padded with."""

from __future__ import annotations

import random

import httpx
import numpy as np
import pytest

from serving.app import create_app
from serving.config import Settings
from serving.model import ModelStore
from stance_model.predictor import score_rows
from tests.serving.live import serve

PASSAGES = [
    "NATO leaders promised Kyiv a path to membership.",
    "Moscow threatened retaliation for the strikes.",
    "A ceasefire along the current line would hand the occupied south to Russia for good.",
    "Officials said nothing had been decided.",
    ("Without a binding guarantee from the alliance, any truce only gives the Kremlin time to rearm, the minister "
    "argued, and every month of delay raises the price paid by the towns along the front."),
    "Talks resume Monday.",
    "The plan's third point would freeze the front; the fourth leaves membership open for later.",
    "Critics warned that longer-range missiles could draw the alliance into direct confrontation.",
]
LONG = " ".join(["The delegation listed every clause of the draft in turn and took questions on each."] * 12)


def _groupings(predictor) -> list[np.ndarray]:
    """The sample's scores: each passage alone, in shuffled batches of every size, and each beside a long neighbour."""
    out = [np.concatenate([score_rows(predictor.scores([p])) for p in PASSAGES])]
    rng = random.Random(7)
    for size in (2, 3, 8):
        order = list(range(len(PASSAGES)))
        rng.shuffle(order)
        got = np.zeros_like(out[0])
        for i in range(0, len(order), size):
            idx = order[i:i + size]
            got[idx] = score_rows(predictor.scores([PASSAGES[j] for j in idx]))
        out.append(got)
    out.append(np.concatenate([score_rows(predictor.scores([p, LONG]))[:1] for p in PASSAGES]))
    return out


@pytest.fixture
def loaded(registered_store, tmp_path):
    return ModelStore(f"models:/{registered_store['name']}@champion", registered_store["uri"], tmp_path / "c").load()


def test_fp32_scores_do_not_depend_on_batch_or_padding(loaded):
    alone, *others = _groupings(loaded.predictor)
    for got in others:
        np.testing.assert_allclose(got, alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("runtime", ["onnxruntime", "torch"])
def test_int8_scores_are_exactly_equal_alone_batched_and_padded(loaded, runtime):
    import torch

    clf = loaded.predictor.classifier
    if runtime == "torch":
        clf.int8_graph = None  # a model saved before the int8 graph existed
    applied = clf.optimize_for_inference(int8=True)  # whatever the tiny model's own check says
    assert (clf.runner is not None) == (runtime == "onnxruntime"), applied
    alone, *others = _groupings(loaded.predictor)
    for got in others:
        np.testing.assert_array_equal(got, alone)
    torch.set_num_threads(1)  # a batch running beside another gets fewer threads
    try:
        np.testing.assert_array_equal(_groupings(loaded.predictor)[1], alone)
    finally:
        torch.set_num_threads(max(1, torch.get_num_threads()))


def test_the_service_answers_the_same_for_a_passage_alone_or_among_others(registered_store, tmp_path):
    settings = Settings(model_uri=f"models:/{registered_store['name']}@champion", tracking_uri=registered_store["uri"],
                        cache_dir=tmp_path / "cache", int8=True)
    with serve(create_app(settings)) as url:
        quantised = any("int8" in o and "not applied" not in o
                        for o in httpx.get(url + "/v1/model").json()["optimizations"])
        alone = [httpx.post(url + "/v1/classify", json={"texts": [p]}).json()["results"][0] for p in PASSAGES]
        together = httpx.post(url + "/v1/classify", json={"texts": [LONG, *PASSAGES[::-1]]}).json()["results"][1:]
    together = together[::-1]
    if quantised:
            assert together == alone
    for a, b in zip(alone, together, strict=True):  # fp32: same labels, scores within 1e-5
        assert {f: v["label"] for f, v in a["frames"].items()} == {f: v["label"] for f, v in b["frames"].items()}
        assert {t: v["label"] for t, v in a["stance"].items()} == {t: v["label"] for t, v in b["stance"].items()}
        for f in a["frames"]:
            assert a["frames"][f]["score"] == pytest.approx(b["frames"][f]["score"], abs=1e-5)
        for t in a["stance"]:
            for lab, v in a["stance"][t]["scores"].items():
                assert v == pytest.approx(b["stance"][t]["scores"][lab], abs=1e-5)


def test_the_registered_pyfunc_answers_as_the_service_does(registered_store, tmp_path):
    import mlflow

    settings = Settings(model_uri=f"models:/{registered_store['name']}@champion", tracking_uri=registered_store["uri"],
                        cache_dir=tmp_path / "cache", int8=True)
    with serve(create_app(settings)) as url:
        served = httpx.post(url + "/invocations", json={"dataframe_split": {"columns": ["text"],
                                                                           "data": [[p] for p in PASSAGES]}}).json()
    mlflow.set_tracking_uri(registered_store["uri"])
    try:
        model = mlflow.pyfunc.load_model(f"models:/{registered_store['name']}@champion")
    finally:
        mlflow.set_tracking_uri(None)
    import pandas as pd

    rows = model.predict(pd.DataFrame({"text": PASSAGES})).to_dict(orient="records")
    assert rows == served["predictions"]
