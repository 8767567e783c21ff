"""Pure ASGI middleware, one concern each, outermost first:

- ``context.RequestContext``: the request id, the access log and request metrics, and the
  last-resort JSON 500 for an error nothing else handled;
- ``body.BodyGuard``: Content-Length, content type, body size and the time to receive the body;
- ``deadline.Deadline``: cancels the request's work when the client disconnects or (labelling
  routes) when the request deadline passes.
"""

from __future__ import annotations

import json
from collections.abc import Callable


def request_id(scope: dict) -> str | None:
    """The request id ``RequestContext`` gave this request."""
    return scope.get("state", {}).get("request_id")


async def send_json_error(send: Callable, scope: dict, status: int, detail: str,
                          extra: list[tuple[bytes, bytes]] | None = None) -> None:
    """Answer ``{"detail", "request_id"}`` with ``status`` straight from a middleware."""
    body = json.dumps({"detail": detail, "request_id": request_id(scope)}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(extra or [])]})
    await send({"type": "http.response.body", "body": body})
