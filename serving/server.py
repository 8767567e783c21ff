"""The HTTP server around the app: uvicorn, with a deadline on request headers and a connection cap.

uvicorn closes idle keep-alive connections, but a connection that never sends a request line, or
dribbles its headers, stays open for ever; enough of them exhaust the process's file descriptors.
``GuardedProtocol`` closes a connection whose request line and headers have not arrived within
``header_timeout_s`` (408), and answers a connection beyond ``max_connections`` with a 503 and
closes it, before it can hold anything.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from serving.config import Settings
from serving.metrics import ServiceMetrics

REFUSED_LINGER_S = 1.0
"""Seconds a refused connection is kept half-closed so that the client reads the 503."""


def _raw_response(status: str, detail: str, retry_after: int | None = None) -> bytes:
    """A whole HTTP response written straight to the socket, with a request id of its own."""
    rid = uuid.uuid4().hex
    body = json.dumps({"detail": detail, "request_id": rid}).encode()
    head = [f"HTTP/1.1 {status}", "content-type: application/json", f"content-length: {len(body)}",
            f"x-request-id: {rid}", "connection: close"]
    if retry_after is not None:
        head.append(f"retry-after: {retry_after}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def guarded_protocol(settings: Settings, metrics: ServiceMetrics) -> type[HttpToolsProtocol]:
    """The HTTP protocol class for uvicorn, bound to the service's limits and metrics."""
    header_timeout = settings.header_timeout_s
    max_connections = settings.max_connections
    refusal = f"too many open connections (limit {max_connections}); retry later"
    too_slow = f"request line and headers not received within {header_timeout:g} s"

    class GuardedProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None
        _refused = False

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            if len(self.connections) >= max_connections:
                # answer at once, then read and drop what the client sends for a moment before
                # closing: closing on unread request bytes would reset the connection, and the
                # client might lose the answer with it
                self._refused = True
                self.transport = transport
                metrics.connections_refused.inc()
                transport.write(_raw_response("503 Service Unavailable", refusal, settings.retry_after_s))
                if transport.can_write_eof():
                    transport.write_eof()
                self.loop.call_later(REFUSED_LINGER_S, transport.close)
                return
            super().connection_made(transport)
            metrics.connections.set(len(self.connections))
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._refused:
                return
            self._disarm()
            super().connection_lost(exc)
            metrics.connections.set(len(self.connections))

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            if self._header_timer is None and (self.cycle is None or self.cycle.response_complete):
                self._arm()  # the first bytes of a new request on a kept-alive connection
            super().data_received(data)

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def _arm(self) -> None:
            self._header_timer = self.loop.call_later(header_timeout, self._headers_too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if self.transport is not None and not self.transport.is_closing():
                metrics.header_timeouts.inc()
                self.transport.write(_raw_response("408 Request Timeout", too_slow))
                self.transport.close()

    return GuardedProtocol


def server_config(app: Any, settings: Settings, host: str, port: int, **kwargs: Any) -> uvicorn.Config:
    """uvicorn's configuration for ``app`` (made by ``create_app``) with the service's connection limits."""
    return uvicorn.Config(app, host=host, port=port, http=guarded_protocol(settings, app.state.metrics),
                          timeout_keep_alive=settings.keepalive_timeout_s, log_config=None, access_log=False,
                          **kwargs)
