"""Property-based requests generated from the OpenAPI schema, valid and invalid, never produce a 5xx.

By default the app runs in process over a fake predictor (the test is about our HTTP layer) with
``FUZZ_EXAMPLES`` (default 150) examples per operation and mode. The reliability run
(``experiments/benchmarks/reliability.py``) points it at a live service over the real model with
``FUZZ_BASE_URL`` and asks for more examples; ``FUZZ_REPORT`` names a JSON-lines file that gets one
line per request sent (operation, mode, status).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from serving.app import create_app
from serving.config import Settings
from tests.serving.fakes import fake_loaded
from tests.serving.live import serve

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
REPORT = os.environ.get("FUZZ_REPORT")
TOKEN = os.environ.get("FUZZ_ADMIN_TOKEN", "fuzz-token-0123456789abcdef")

if os.environ.get("FUZZ_BASE_URL"):
    BASE, _ctx = os.environ["FUZZ_BASE_URL"].rstrip("/"), None
else:
    _ctx = serve(create_app(Settings(admin_token=TOKEN), loader=lambda allow_cache: fake_loaded()))
    BASE = _ctx.__enter__()

config = SchemathesisConfig()
config.projects.default.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                                          max_examples=EXAMPLES, allow_x00=True)
schema = schemathesis.openapi.from_url(BASE + "/openapi.json", config=config)


@pytest.fixture(scope="module", autouse=True)
def _stop_server():
    yield
    if _ctx is not None:
        _ctx.__exit__(None, None, None)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case):
    headers = {"Authorization": f"Bearer {TOKEN}"} if case.path.startswith("/admin") else None
    response = case.call(headers=headers, timeout=120)
    if REPORT:
        with Path(REPORT).open("a") as fh:
            fh.write(json.dumps({"operation": f"{case.method} {case.path}", "status": response.status_code,
                                 "mode": str(getattr(case.meta, "generation", None) and
                                             case.meta.generation.mode.value)}) + "\n")
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])
    if response.status_code >= 400 and response.status_code not in (404, 405):
        assert "detail" in response.json(), response.text[:300]
