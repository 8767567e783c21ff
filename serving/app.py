"""The FastAPI application: routes, limits, errors, request ids, metrics."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from serving.batching import Overloaded
from serving.config import Settings, get_settings
from serving.invocations import InvocationError, parse_invocation
from serving.metrics import ServiceMetrics
from serving.model import LoadedModel, ModelLoadError, ModelStore
from serving.schemas import (
    ArticleRequest,
    ArticleResponse,
    ClassifyRequest,
    ClassifyResponse,
    ErrorResponse,
    InvocationsResponse,
    ModelInfo,
)
from serving.service import InputError, NotReady, Service, check_unicode
from training.predictor import NonFiniteScores, flatten_result

log = logging.getLogger("serving")
SettingsDep = Annotated[Settings, Depends(get_settings)]


# Dependencies are ``async def``: FastAPI runs plain ``def`` dependencies in a thread pool, a thread
# hop per dependency per request that showed up in the profile under load.
async def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]


async def get_model(service: ServiceDep) -> LoadedModel:
    return service.current()


ModelDep = Annotated[LoadedModel, Depends(get_model)]


_TEXTS = {"type": "array", "items": {"type": "string"}, "minItems": 1}
_PARAMS = {"type": "object", "properties": {"targets": {
    "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}}}
INVOCATIONS_SCHEMA = {
    "description": "MLflow scoring protocol: one of the four input formats, with a `text` column",
    "oneOf": [
        {"type": "object", "required": ["dataframe_split"], "properties": {
            "dataframe_split": {"type": "object", "required": ["columns", "data"], "properties": {
                "columns": {"type": "array", "items": {"type": "string"}},
                "data": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}}}},
            "params": _PARAMS}},
        {"type": "object", "required": ["dataframe_records"], "properties": {
            "dataframe_records": {"type": "array", "items": {"type": "object", "required": ["text"], "properties": {
                "text": {"type": "string"}}}},
            "params": _PARAMS}},
        {"type": "object", "required": ["inputs"], "properties": {"inputs": _TEXTS, "params": _PARAMS}},
        {"type": "object", "required": ["instances"], "properties": {"instances": _TEXTS, "params": _PARAMS}},
    ],
}
"""The request body of ``/invocations`` as OpenAPI (parsed by hand: the four formats share a route)."""


UNTIMED_PREFIXES = ("/admin/", "/healthz", "/readyz", "/metrics")
"""Routes without the request deadline: a reload runs its course (it is shared and never half-done)."""


class Gatekeeper:
    """Pure ASGI middleware: request ids, body-size limit, content type, metrics, access log."""

    def __init__(self, app: Any, settings: Settings, metrics: ServiceMetrics) -> None:
        self.app = app
        self.settings = settings
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        rid = headers.get("x-request-id", "")
        if not rid or len(rid) > 128 or not rid.isprintable():
            rid = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status_holder = {"status": 500}
        response_began = [False]
        finished = [False]
        limit = self.settings.max_body_bytes

        async def send_with_id(message: dict) -> None:
            if message["type"] == "http.response.start":
                response_began[0] = True
                status_holder["status"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(b"x-request-id", rid.encode())]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                finished[0] = True
            await send(message)

        async def reject(status: int, detail: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
            body = json.dumps({"detail": detail, "request_id": rid}).encode()
            await send_with_id({"type": "http.response.start", "status": status,
                                "headers": [(b"content-type", b"application/json"),
                                            (b"content-length", str(len(body)).encode()), *(extra or [])]})
            await send_with_id({"type": "http.response.body", "body": body})

        method = scope["method"]
        try:
            declared = int(headers.get("content-length", "0") or 0)
        except ValueError:
            declared = -1
        if declared < 0:
            await reject(400, "invalid Content-Length header")
        elif declared > limit:
            await reject(413, f"request body is {declared} bytes; the limit is {limit} bytes")
        elif method == "POST" and scope["path"] != "/admin/reload" and \
                headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            await reject(415, "Content-Type must be application/json")
        else:
            # Bodies are small (the limit is ~1 MB): read the whole body here, so an oversized
            # one is refused before the app sees it, with or without a Content-Length.
            chunks, received = [], 0
            more = True
            deadline = time.monotonic() + self.settings.body_timeout_s
            while more:
                try:  # a body dribbled in slowly (slow loris) may not hold a connection for ever
                    message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
                except TimeoutError:
                    await reject(408, f"request body not received within {self.settings.body_timeout_s:g} s",
                                 [(b"connection", b"close")])
                    break
                if message["type"] != "http.request":
                    return  # client went away
                chunks.append(message.get("body", b""))
                received += len(chunks[-1])
                more = message.get("more_body", False)
                if received > limit:
                    await reject(413, f"request body exceeds the limit of {limit} bytes")
                    break
            else:
                body = b"".join(chunks)
                delivered = False
                gone = asyncio.Event()

                async def replay() -> dict:
                    nonlocal delivered
                    if not delivered:
                        delivered = True
                        return {"type": "http.request", "body": body, "more_body": False}  # noqa: B023
                    await gone.wait()  # noqa: B023
                    return {"type": "http.disconnect"}

                outcome = await self._run_watched(scope, replay, send_with_id, receive, gone, lambda: finished[0])
                if outcome == "timeout":
                    if response_began[0]:
                        status_holder["status"] = 504
                    else:
                        await reject(504, f"the request was not done within {self.settings.request_timeout_s:g} s "
                                          "and was cancelled; retry later or send less at once",
                                     [(b"retry-after", str(self.settings.retry_after_s).encode())])
                elif outcome == "gone":
                    status_holder["status"] = 499  # client closed the request: its work was cancelled
                elif isinstance(outcome, Exception):
                    log.error("unhandled error (request id %s): %s", rid, type(outcome).__name__, exc_info=outcome)
                    if response_began[0]:
                        status_holder["status"] = 500
                    else:
                        await reject(500, f"internal error ({type(outcome).__name__}); request id {rid}")
        route = scope.get("route")
        path = getattr(route, "path", None) or "unmatched"
        status = status_holder["status"]
        elapsed = time.perf_counter() - started
        self.metrics.requests.labels(route=path, method=method, status=str(status)).inc()
        self.metrics.latency.labels(route=path, method=method, status=str(status)).observe(elapsed)
        log.info(json.dumps({"event": "request", "request_id": rid, "method": method, "route": path,
                             "status": status, "ms": round(elapsed * 1000, 2)}))


    async def _run_watched(self, scope: dict, replay: Callable, send: Callable, receive: Callable,
                           gone: asyncio.Event, finished: Callable[[], bool]) -> str | Exception | None:
        """Run the app for one request, cancelled when the client disconnects before its answer or
        (labelling routes) when the request deadline passes. Returns ``None``, ``"gone"``,
        ``"timeout"`` or the exception the app raised."""
        app_task = asyncio.ensure_future(self.app(scope, replay, send))
        cancelled_by: str | None = None

        def cancel(reason: str) -> None:
            nonlocal cancelled_by
            if not app_task.done() and cancelled_by is None:
                cancelled_by = reason
                app_task.cancel()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            if not finished():  # uvicorn also reports a completed response as a disconnect
                gone.set()
                cancel("gone")

        watcher = asyncio.ensure_future(watch())
        timer = None
        if not scope["path"].startswith(UNTIMED_PREFIXES):
            timer = asyncio.get_running_loop().call_later(self.settings.request_timeout_s, cancel, "timeout")
        try:
            await app_task
        except asyncio.CancelledError:
            if cancelled_by is None:  # this request itself is being cancelled (server shutdown)
                raise
            return cancelled_by
        except Exception as exc:  # noqa: BLE001 - the caller answers it as the last resort
            return exc
        finally:
            watcher.cancel()
            if timer is not None:
                timer.cancel()
        return None


def _error(status: int, detail: Any, request: Request, headers: dict[str, str] | None = None) -> JSONResponse:
    rid = request.scope.get("state", {}).get("request_id")
    return JSONResponse({"detail": detail, "request_id": rid}, status_code=status, headers=headers)


def _bearer_ok(authorization: str | None, token: str) -> bool:
    """An ``Authorization: Bearer <token>`` header with the right token (the scheme in any case)."""
    scheme, _, given = (authorization or "").strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def _describe_validation(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for e in exc.errors():
        loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
        msg = e.get("msg", "invalid value")
        if e.get("type") == "json_invalid":
            msg = "body is not valid JSON: " + str(e.get("ctx", {}).get("error", msg))
        out.append({"field": loc, "message": msg, "type": e.get("type")})
    return out


def create_app(settings: Settings | None = None, loader: Callable[[bool], LoadedModel] | None = None) -> FastAPI:
    """Build the app. ``loader(allow_cache)`` loads the model; default: the MLflow registry."""
    settings = settings or get_settings()
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    metrics = ServiceMetrics()
    if loader is None:
        store = ModelStore(settings.model_uri, settings.tracking_uri, settings.cache_dir, settings.threads_per_worker,
                           settings.int8)
        loader = lambda allow_cache: store.load(allow_cache=allow_cache)  # noqa: E731

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        import torch

        torch.set_num_threads(settings.threads_per_worker)
        service = Service(loader, settings.max_batch_size, settings.max_queue, metrics, settings.inference_workers,
                          threads=(settings.threads_alone, settings.threads_per_worker))
        app.state.service = service
        await service.start()
        yield
        await service.stop()

    app = FastAPI(title="stance-framing", version="1.0",
                  description="Frames and per-target stance for news passages about the Russia-Ukraine war "
                              "and European security.", lifespan=lifespan,
                  responses={413: {"model": ErrorResponse}, 422: {"model": ErrorResponse},
                             503: {"model": ErrorResponse}})
    app.state.settings = settings
    app.state.metrics = metrics
    async def _settings() -> Settings:
        return settings

    app.dependency_overrides[get_settings] = _settings
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["content-type", "x-request-id"])
    app.add_middleware(Gatekeeper, settings=settings, metrics=metrics)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, _describe_validation(exc), request)

    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError) -> JSONResponse:
        return _error(exc.status, str(exc), request)

    @app.exception_handler(NotReady)
    async def _not_ready(request: Request, exc: NotReady) -> JSONResponse:
        return _error(503, f"model not ready: {exc}", request, {"Retry-After": str(settings.retry_after_s)})

    @app.exception_handler(Overloaded)
    async def _overloaded(request: Request, exc: Overloaded) -> JSONResponse:
        return _error(503, f"overloaded: {exc}", request, {"Retry-After": str(settings.retry_after_s)})

    @app.exception_handler(NonFiniteScores)
    async def _non_finite(request: Request, exc: NonFiniteScores) -> JSONResponse:
        rid = request.scope.get("state", {}).get("request_id")
        log.error(json.dumps({"event": "non_finite_scores", "request_id": rid, "detail": str(exc)}))
        return _error(500, f"internal error: {exc}; nothing was returned (request id {rid})", request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            detail = "body is not valid UTF-8"
        return _error(exc.status_code, detail, request, exc.headers)

    @app.exception_handler(UnicodeDecodeError)
    async def _encoding(request: Request, exc: UnicodeDecodeError) -> JSONResponse:
        return _error(400, "body is not valid UTF-8", request)

    @app.post("/v1/classify", response_model=ClassifyResponse, tags=["classify"])
    async def classify(body: ClassifyRequest, service: ServiceDep, model: ModelDep, cfg: SettingsDep) -> dict:
        """Label passages: every frame's score and decision, and stance per target."""
        texts = service.check_texts(body.texts, cfg.max_texts, cfg.max_text_chars)
        targets = service.check_targets(model, body.targets)
        results = await service.classify(model, texts, targets)
        return {"model": model.ref(), "results": results}

    @app.post("/v1/articles", response_model=ArticleResponse, tags=["classify"])
    async def articles(body: ArticleRequest, service: ServiceDep, model: ModelDep, cfg: SettingsDep) -> dict:
        """Split an article into passages, label each, and summarise the article with evidence."""
        if not body.text.strip():
            raise InputError("'text' is empty or whitespace only", field="text")
        if len(body.text) > cfg.max_article_chars:
            raise InputError(f"'text' has {len(body.text)} characters; the limit is {cfg.max_article_chars}", 413)
        if body.title is not None and len(body.title) > cfg.max_text_chars:
            raise InputError(f"'title' has {len(body.title)} characters; the limit is {cfg.max_text_chars}", 413)
        check_unicode(body.text, "text")
        if body.title is not None:
            check_unicode(body.title, "title")
        targets = service.check_targets(model, body.targets)
        out = await service.article(model, body.title, body.text, targets, cfg.max_article_passages)
        return {"model": model.ref(), **out}

    @app.post("/invocations", response_model=InvocationsResponse, tags=["mlflow"],
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": INVOCATIONS_SCHEMA}}}})
    async def invocations(request: Request, service: ServiceDep, model: ModelDep, cfg: SettingsDep) -> dict:
        """MLflow scoring-server protocol: dataframe_split, dataframe_records, inputs or instances."""
        try:
            body = json.loads(await request.body())
        except UnicodeDecodeError:
            raise InputError("body is not valid UTF-8", 400) from None
        except json.JSONDecodeError as exc:
            raise InputError(f"body is not valid JSON: {exc.msg} at position {exc.pos}", 400) from None
        except ValueError as exc:  # e.g. an integer of thousands of digits
            raise InputError(f"body holds a value that cannot be read: {str(exc)[:200]}", 400) from None
        except RecursionError:
            raise InputError("body JSON is nested too deeply", 400) from None
        try:
            texts, params = parse_invocation(body)
        except InvocationError as exc:
            raise InputError(str(exc), 400) from None
        texts = service.check_texts(texts, cfg.max_texts, cfg.max_text_chars, field="text")
        targets = None
        if params.get("targets") not in (None, "", []):
            raw = params["targets"]
            targets = service.check_targets(model, raw.split(",") if isinstance(raw, str) else raw)
        results = await service.classify(model, texts, targets)
        return {"predictions": [flatten_result(r) for r in results]}

    @app.get("/v1/labels", tags=["model"])
    async def labels(model: ModelDep) -> dict:
        """The codebook the served model was trained with."""
        return model.predictor.codebook.to_dict()

    @app.get("/v1/model", response_model=ModelInfo, tags=["model"])
    async def model_info(model: ModelDep) -> dict:
        """Which version is served, where it came from, its metrics and thresholds."""
        meta = model.predictor.meta
        return {**model.ref(), "model_id": model.model_id, "digest": model.digest, "source": model.source,
                "loaded_at": model.loaded_at, "family": meta.get("family"),
                "self_check": meta.get("self_check", {}), "int8_check": meta.get("int8_check"), "codebook_version": model.predictor.codebook.version,
                "thresholds": model.predictor.thresholds,
                "metrics": {k: float(v) for k, v in meta.get("metrics", {}).items()},
                "optimizations": list(meta.get("inference_optimizations", []))}

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict:
        return {"status": "alive"}

    @app.get("/readyz", tags=["ops"])
    async def readyz(service: ServiceDep) -> JSONResponse:
        if service.model is None:
            return JSONResponse(service.readiness(), status_code=503,
                                headers={"Retry-After": str(settings.retry_after_s)})
        m = service.model
        return JSONResponse({"status": "ready", **m.ref(), "source": m.source})

    @app.get("/metrics", tags=["ops"])
    async def prometheus(request: Request, authorization: Annotated[str | None, Header()] = None) -> Response:
        """Prometheus metrics; with the service bound beyond loopback (or STANCE_METRICS_AUTH=token),
        only with the admin bearer token."""
        if settings.metrics_need_token:
            if settings.admin_token is None:
                return _error(403, "/metrics needs the admin token on this bind address, and no "
                                   "STANCE_ADMIN_TOKEN is set (or set STANCE_METRICS_AUTH=open)", request)
            if not _bearer_ok(authorization, settings.admin_token.get_secret_value()):
                return _error(401, "missing or wrong bearer token", request, {"WWW-Authenticate": "Bearer"})
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.post("/admin/reload", tags=["admin"])
    async def reload(request: Request, service: ServiceDep,
                     authorization: Annotated[str | None, Header()] = None) -> JSONResponse:
        """Re-resolve the model alias and swap the model; the old one keeps serving on failure.
        Calls that arrive while a reload waits to start share it."""
        token = settings.admin_token
        if token is None:
            return _error(404, "admin routes are disabled (no STANCE_ADMIN_TOKEN)", request)
        if not _bearer_ok(authorization, token.get_secret_value()):
            return _error(401, "missing or wrong bearer token", request, {"WWW-Authenticate": "Bearer"})
        try:
            previous, current = await service.reload()
        except ModelLoadError as exc:
            kept = service.model.ref() if service.model else None
            return JSONResponse({"detail": f"reload failed: {exc}", "serving": kept,
                                 "request_id": request.scope.get("state", {}).get("request_id")}, status_code=502)
        return JSONResponse({"previous": previous.ref() if previous else None, "model": current.ref(),
                             "source": current.source})

    return app

