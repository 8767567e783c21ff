"""A fake predictor for routing tests: deterministic scores from keywords, no model."""

from __future__ import annotations

import threading
import time

from labels.codebook import load_codebook
from serving.model import LoadedModel

KEYWORDS = {"security_guarantee": "guarantee", "territorial_compromise": "land", "escalation_risk": "missile"}


class FakePredictor:
    def __init__(self, delay: float = 0.0, fail_on: str | None = None) -> None:
        self.codebook = load_codebook()
        self.thresholds = {f: 0.5 for f in self.codebook.frame_ids}
        self.meta = {"family": "fake", "metrics": {"test_frames_macro_f1": 0.5}}
        self.delay = delay
        self.fail_on = fail_on
        self.batches: list[int] = []
        self.lock = threading.Lock()

    def check_targets(self, targets):
        return self.codebook.target_ids if targets is None else list(dict.fromkeys(targets))

    def predict(self, texts, targets=None):
        with self.lock:
            self.batches.append(len(texts))
        if self.delay:
            time.sleep(self.delay)
        if self.fail_on and any(self.fail_on in t for t in texts):
            raise RuntimeError("model exploded")
        targets = self.codebook.target_ids if targets is None else targets
        out = []
        for t in texts:
            low = t.lower()
            frames = {f: {"score": 0.9 if k in low else 0.1, "label": k in low, "confident": True}
                      for f, k in KEYWORDS.items()}
            label = "favor" if "yes" in low else "against" if "no " in low else "neutral"
            scores = {lab: (0.8 if lab == label else 0.1) for lab in self.codebook.stance_labels}
            stance = {tg: {"label": label, "scores": scores, "confident": label == "neutral"} for tg in targets}
            in_scope = 0.9 if any(k in low for k in KEYWORDS.values()) else 0.1
            out.append({"frames": frames, "stance": stance, "in_scope": in_scope})
        return out


def fake_loaded(version: str = "1", predictor: FakePredictor | None = None, source: str = "registry") -> LoadedModel:
    return LoadedModel(predictor or FakePredictor(), "stance-framing", version, "champion", f"run{version}", source)


TOKEN = "s3cret-token-for-tests-only"


def make_client(loader=None, **settings):
    """A test client of the app over the fake model (or ``loader``), with the admin token set."""
    from fastapi.testclient import TestClient

    from serving.app import create_app
    from serving.config import Settings

    cfg = Settings(admin_token=TOKEN, **settings)
    app = create_app(cfg, loader=loader or (lambda allow_cache: fake_loaded()))
    return TestClient(app, raise_server_exceptions=False)
