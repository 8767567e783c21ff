"""FastAPI dependencies: the settings, the service, the model it serves, the bearer-token check.

Dependencies are ``async def``: FastAPI runs plain ``def`` dependencies in a thread pool, a thread
hop per dependency per request that showed up in the profile under load.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from serving.config import Settings
from serving.model import LoadedModel
from serving.service import Service


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_service(request: Request) -> Service:
    return request.app.state.service


SettingsDep = Annotated[Settings, Depends(get_settings)]
ServiceDep = Annotated[Service, Depends(get_service)]


async def get_model(service: ServiceDep) -> LoadedModel:
    """The model served now; a request keeps it to the end even if a reload swaps it meanwhile."""
    return service.current()


ModelDep = Annotated[LoadedModel, Depends(get_model)]


def bearer_ok(authorization: str | None, token: str) -> bool:
    """An ``Authorization: Bearer <token>`` header with the right token (the scheme in any case),
    compared in constant time."""
    scheme, _, given = (authorization or "").strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
