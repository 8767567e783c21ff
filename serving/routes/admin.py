"""``POST /admin/reload``: re-resolve the model alias and swap the model (bearer token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from serving.deps import ServiceDep, SettingsDep, bearer_ok
from serving.errors import error_response
from serving.examples import ok
from serving.middleware import request_id
from serving.model import ModelLoadError

router = APIRouter(tags=["admin"])


@router.post("/admin/reload", responses=ok("reload"))
async def reload(request: Request, service: ServiceDep, cfg: SettingsDep,
                 authorization: Annotated[str | None, Header()] = None) -> JSONResponse:
    """Re-resolve the model alias and swap the model; the old one keeps serving on failure.
    Calls that arrive while a reload waits to start share it."""
    if cfg.admin_token is None:
        return error_response(404, "admin routes are disabled (no STANCE_ADMIN_TOKEN)", request)
    if not bearer_ok(authorization, cfg.admin_token.get_secret_value()):
        return error_response(401, "missing or wrong bearer token", request, {"WWW-Authenticate": "Bearer"})
    try:
        previous, current = await service.reload()
    except ModelLoadError as exc:
        kept = service.model.ref() if service.model else None
        return JSONResponse({"detail": f"reload failed: {exc}", "serving": kept,
                             "request_id": request_id(request.scope)}, status_code=502)
    return JSONResponse({"previous": previous.ref() if previous else None, "model": current.ref(),
                         "source": current.source})
