"""The request body: Content-Length, content type, size limit and the time allowed to receive it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from serving.config import Settings
from serving.middleware import send_json_error

RAW_BODY_ROUTES = ("/admin/reload",)
"""POST routes that take no JSON body, so need no JSON content type."""


class BodyGuard:
    """Refuses a bad Content-Length (400), a body over ``max_body_bytes`` (413, with or without a
    Content-Length), a POST that is not JSON (415) and a body not received within
    ``body_timeout_s`` (408, connection closed); hands the app the whole body at once."""

    def __init__(self, app: Any, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        limit = self.settings.max_body_bytes
        try:
            declared = int(headers.get("content-length", "0") or 0)
        except ValueError:
            declared = -1
        if declared < 0:
            await send_json_error(send, scope, 400, "invalid Content-Length header")
            return
        if declared > limit:
            await send_json_error(send, scope, 413, f"request body is {declared} bytes; the limit is {limit} bytes")
            return
        if scope["method"] == "POST" and scope["path"] not in RAW_BODY_ROUTES and \
                headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            await send_json_error(send, scope, 415, "Content-Type must be application/json")
            return
        body = await self._read(scope, receive, send, limit)
        if body is None:
            return
        delivered = False

        async def replay() -> dict:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read(self, scope: dict, receive: Callable, send: Callable, limit: int) -> bytes | None:
        """The whole body, or ``None`` once the request has been answered (or the client left)."""
        chunks: list[bytes] = []
        received = 0
        deadline = time.monotonic() + self.settings.body_timeout_s
        while True:
            try:  # a body dribbled in slowly (slow loris) may not hold a connection for ever
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                await send_json_error(send, scope, 408, f"request body not received within "
                                                        f"{self.settings.body_timeout_s:g} s",
                                      [(b"connection", b"close")])
                return None
            if message["type"] != "http.request":
                scope.setdefault("state", {})["client_gone"] = True
                return None
            chunks.append(message.get("body", b""))
            received += len(chunks[-1])
            if received > limit:
                await send_json_error(send, scope, 413, f"request body exceeds the limit of {limit} bytes")
                return None
            if not message.get("more_body", False):
                return b"".join(chunks)
