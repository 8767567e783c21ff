"""Cancel a request's work when its client disconnects, or when the request deadline passes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from serving.config import Settings
from serving.middleware import send_json_error

UNTIMED_PREFIXES = ("/admin/", "/healthz", "/readyz", "/metrics")
"""Routes without the request deadline: a reload runs its course (it is shared and never half-done)."""


class Deadline:
    """Runs the app as a task and cancels it when the client disconnects before its answer (the
    request is then logged as 499 by ``RequestContext``) or, on labelling routes, after
    ``request_timeout_s`` (answered 504 with Retry-After). The service's batcher drops the
    batches of a cancelled request that have not started."""

    def __init__(self, app: Any, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        first = await receive()  # the whole body (``BodyGuard`` sits outside)
        if first["type"] != "http.request":
            return
        gone = asyncio.Event()
        began = finished = False
        delivered = False

        async def replay() -> dict:
            nonlocal delivered
            if not delivered:
                delivered = True
                return first
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send_tracked(message: dict) -> None:
            nonlocal began, finished
            began = began or message["type"] == "http.response.start"
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                finished = True  # set before sending: uvicorn reports the finished response as a disconnect
            await send(message)

        app_task = asyncio.ensure_future(self.app(scope, replay, send_tracked))
        cancelled_by: str | None = None

        def cancel(reason: str) -> None:
            nonlocal cancelled_by
            if not app_task.done() and cancelled_by is None:
                cancelled_by = reason
                app_task.cancel()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            if not finished:
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
        finally:
            watcher.cancel()
            if timer is not None:
                timer.cancel()
        if cancelled_by == "gone":
            scope.setdefault("state", {})["client_gone"] = True
        elif cancelled_by == "timeout" and not began:
            await send_json_error(send_tracked, scope, 504,
                                  f"the request was not done within {self.settings.request_timeout_s:g} s and was "
                                  "cancelled; retry later or send less at once",
                                  [(b"retry-after", str(self.settings.retry_after_s).encode())])
