"""Error answers: every one is JSON ``{"detail", "request_id"}`` with the status that fits."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from serving.batching import Overloaded
from serving.config import Settings
from serving.middleware import request_id
from serving.service import NotReady
from serving.validation import InputError
from stance_model.predictor import NonFiniteScores

log = logging.getLogger("serving")


def error_response(status: int, detail: Any, request: Request, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "request_id": request_id(request.scope)}, status_code=status,
                        headers=headers)


def describe_validation(exc: RequestValidationError) -> list[dict[str, Any]]:
    """FastAPI's validation errors as ``{"field", "message", "type"}``, the field as a dotted path."""
    out = []
    for e in exc.errors():
        loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
        msg = e.get("msg", "invalid value")
        if e.get("type") == "json_invalid":
            msg = "body is not valid JSON: " + str(e.get("ctx", {}).get("error", msg))
        out.append({"field": loc, "message": msg, "type": e.get("type")})
    return out


def install_error_handlers(app: FastAPI, settings: Settings) -> None:
    retry = {"Retry-After": str(settings.retry_after_s)}

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, describe_validation(exc), request)

    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError) -> JSONResponse:
        return error_response(exc.status, str(exc), request)

    @app.exception_handler(NotReady)
    async def _not_ready(request: Request, exc: NotReady) -> JSONResponse:
        return error_response(503, f"model not ready: {exc}", request, retry)

    @app.exception_handler(Overloaded)
    async def _overloaded(request: Request, exc: Overloaded) -> JSONResponse:
        return error_response(503, f"overloaded: {exc}", request, retry)

    @app.exception_handler(NonFiniteScores)
    async def _non_finite(request: Request, exc: NonFiniteScores) -> JSONResponse:
        rid = request_id(request.scope)
        log.error(json.dumps({"event": "non_finite_scores", "request_id": rid, "detail": str(exc)}))
        return error_response(500, f"internal error: {exc}; nothing was returned (request id {rid})", request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            detail = "body is not valid UTF-8"
        return error_response(exc.status_code, detail, request, exc.headers)

    @app.exception_handler(UnicodeDecodeError)
    async def _encoding(request: Request, exc: UnicodeDecodeError) -> JSONResponse:
        return error_response(400, "body is not valid UTF-8", request)
