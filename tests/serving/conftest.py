"""The serving tests' shared fixture: a test client over the fake model."""

from __future__ import annotations

import pytest

from tests.serving.fakes import make_client


@pytest.fixture
def client():
    with make_client() as c:
        yield c
