"""``GET /healthz``, ``GET /readyz`` and ``GET /metrics``: answered by the event loop, never behind model work."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response

from serving.deps import ServiceDep, SettingsDep, bearer_ok
from serving.errors import error_response
from serving.examples import ok

router = APIRouter(tags=["ops"])


@router.get("/healthz", responses=ok("healthz"))
async def healthz() -> dict:
    """Liveness: the process answers (no model needed)."""
    return {"status": "alive"}


@router.get("/readyz", responses=ok("readyz"))
async def readyz(service: ServiceDep, cfg: SettingsDep) -> JSONResponse:
    """Readiness: 200 with the served model once one is loaded, 503 with Retry-After before."""
    if service.model is None:
        return JSONResponse(service.readiness(), status_code=503, headers={"Retry-After": str(cfg.retry_after_s)})
    m = service.model
    return JSONResponse({"status": "ready", **m.ref(), "source": m.source})


@router.get("/metrics", responses=ok("metrics", "text/plain"))
async def prometheus(request: Request, cfg: SettingsDep,
                     authorization: Annotated[str | None, Header()] = None) -> Response:
    """Prometheus metrics; with the service bound beyond loopback (or STANCE_METRICS_AUTH=token),
    only with the admin bearer token."""
    if cfg.metrics_need_token:
        if cfg.admin_token is None:
            return error_response(403, "/metrics needs the admin token on this bind address, and no "
                                       "STANCE_ADMIN_TOKEN is set (or set STANCE_METRICS_AUTH=open)", request)
        if not bearer_ok(authorization, cfg.admin_token.get_secret_value()):
            return error_response(401, "missing or wrong bearer token", request, {"WWW-Authenticate": "Bearer"})
    return Response(request.app.state.metrics.render(), media_type="text/plain; version=0.0.4")
