"""Request ids, the access log, request metrics, and the last-resort JSON 500."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from serving.metrics import ServiceMetrics
from serving.middleware import send_json_error

log = logging.getLogger("serving")

CLIENT_GONE = 499
"""Status logged and counted for a request whose client disconnected before the answer (nginx's code)."""


class RequestContext:
    """Gives every request an id (the client's ``X-Request-ID`` when printable and at most 128
    characters), returns it in a header, logs and counts the request with its final status, and
    answers an exception nothing else handled as a JSON 500 with the id, logging its traceback."""

    def __init__(self, app: Any, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == b"x-request-id"), "")
        if not rid or len(rid) > 128 or not rid.isprintable():
            rid = uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        started = time.perf_counter()
        status = 500
        began = False

        async def send_with_id(message: dict) -> None:
            nonlocal status, began
            if message["type"] == "http.response.start":
                began = True
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            log.error("unhandled error (request id %s): %s", rid, type(exc).__name__, exc_info=exc)
            if began:
                status = 500
            else:
                await send_json_error(send_with_id, scope, 500, f"internal error ({type(exc).__name__}); "
                                                                f"request id {rid}")
        if state.get("client_gone") and not began:
            status = CLIENT_GONE
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        method = scope["method"]
        elapsed = time.perf_counter() - started
        self.metrics.requests.labels(route=route, method=method, status=str(status)).inc()
        self.metrics.latency.labels(route=route, method=method, status=str(status)).observe(elapsed)
        log.info(json.dumps({"event": "request", "request_id": rid, "method": method, "route": route,
                             "status": status, "ms": round(elapsed * 1000, 2)}))
