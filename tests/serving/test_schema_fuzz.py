"""Property-based requests generated from the OpenAPI schema never produce a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from serving.app import create_app
from serving.config import Settings
from tests.serving.fakes import fake_loaded
from tests.serving.live import serve

_ctx = serve(create_app(Settings(admin_token="fuzz-token-0123456789abcdef"),
                        loader=lambda allow_cache: fake_loaded()))
BASE = _ctx.__enter__()
schema = schemathesis.openapi.from_url(BASE + "/openapi.json")


@pytest.fixture(scope="module", autouse=True)
def _stop_server():
    yield
    _ctx.__exit__(None, None, None)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    response = case.call()
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])
