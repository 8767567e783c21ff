"""The FastAPI application, wired: settings, the service's lifespan, middleware, error answers, routes."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from serving.config import Settings, get_settings
from serving.errors import install_error_handlers
from serving.metrics import ServiceMetrics
from serving.middleware.body import BodyGuard
from serving.middleware.context import RequestContext
from serving.middleware.deadline import Deadline
from serving.model import LoadedModel, ModelStore
from serving.routes import ROUTERS
from serving.schemas import ErrorResponse
from serving.service import Service


def create_app(settings: Settings | None = None, loader: Callable[[bool], LoadedModel] | None = None) -> FastAPI:
    """Build the app. ``loader(allow_cache)`` loads the model; default: the MLflow registry.

    Routes read the settings, the metrics and the service from ``app.state``."""
    settings = settings or get_settings()
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    metrics = ServiceMetrics()
    if loader is None:
        store = ModelStore(settings.model_uri, settings.tracking_uri, settings.cache_dir, settings.threads_per_worker,
                           settings.int8)
        loader = lambda allow_cache: store.load(allow_cache=allow_cache)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
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
                              "and European security.", lifespan=lifespan, docs_url=None, redoc_url=None,
                  responses={413: {"model": ErrorResponse}, 422: {"model": ErrorResponse},
                             503: {"model": ErrorResponse}})
    app.state.settings = settings
    app.state.metrics = metrics
    # added innermost first: a request meets RequestContext, BodyGuard, Deadline, then CORS
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["content-type", "x-request-id"])
    app.add_middleware(Deadline, settings=settings)
    app.add_middleware(BodyGuard, settings=settings)
    app.add_middleware(RequestContext, metrics=metrics)
    install_error_handlers(app, settings)
    for router in ROUTERS:
        app.include_router(router)
    return app
