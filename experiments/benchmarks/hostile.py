"""The hand-written matrix of hostile requests, shared by the test suite and the reliability run.

Every case is raw bytes on the wire (so encodings, content types and framing are exactly what a
hostile client would send) with the statuses it may get. A rejection must be a 4xx with a JSON
``detail`` saying what was wrong; nothing may be a 5xx. ``run_matrix`` sends them all to a live
service and returns one record per case.
"""

from __future__ import annotations

import json
import select
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

PASSAGE = "Allied ministers said the guarantee would only hold if Washington stood behind the European force."
MIXED = ("Київ відкидає «заморожування» 🇺🇦🤝🇪🇺 — Moscow says نعم لا 和平谈判 "
         "Zürich\u200d talks\u202e reversed\u202c text, ünïcödé, 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 and 👩‍👩‍👧 emoji")
CONTROL = "NATO\x00 summit\x01\x02\x03 in\x1b[31m Vilnius\x7f ended\r\n\t with\x0b a\x0c communique."


@dataclass
class Case:
    name: str
    path: str
    body: bytes
    expect: tuple[int, ...]
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})
    method: str = "POST"


def _json(obj: object) -> bytes:
    return json.dumps(obj).encode()


def cases(max_body_bytes: int = 1_000_000, max_text_chars: int = 20_000) -> list[Case]:
    nested = b'{"texts": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    return [
        Case("valid request (control)", "/v1/classify", _json({"texts": [PASSAGE]}), (200,)),
        Case("body over the byte limit, with Content-Length", "/v1/classify",
             _json({"texts": ["x" * (max_body_bytes + 10)]}), (413,)),
        Case("one text over the character limit", "/v1/classify",
             _json({"texts": ["word " * (max_text_chars // 5 + 1)]}), (413,)),
        Case("10,000 short texts", "/v1/classify", _json({"texts": ["peace talks"] * 10_000}), (413,)),
        Case("10,000 texts over the byte limit", "/v1/classify", _json({"texts": [PASSAGE] * 10_000}), (413,)),
        Case("10,000 records to /invocations", "/invocations",
             _json({"dataframe_records": [{"text": "peace talks"}] * 10_000}), (413,)),
        Case("JSON nested 100,000 levels deep", "/v1/classify", nested, (400, 422)),
        Case("JSON nested 100,000 levels deep to /invocations", "/invocations", nested, (400, 422)),
        Case("Content-Type text/plain", "/v1/classify", _json({"texts": [PASSAGE]}), (415,),
             headers={"content-type": "text/plain"}),
        Case("no Content-Type", "/v1/classify", _json({"texts": [PASSAGE]}), (415,), headers={}),
        Case("Content-Type form", "/v1/classify", b"texts=hello", (415,),
             headers={"content-type": "application/x-www-form-urlencoded"}),
        Case("non-UTF-8 bytes (Latin-1)", "/v1/classify", '{"texts": ["Zürich talks"]}'.encode("latin-1"), (400, 422)),
        Case("non-UTF-8 bytes to /invocations", "/invocations",
             '{"inputs": ["Zürich talks"]}'.encode("latin-1"), (400, 422)),
        Case("invalid JSON", "/v1/classify", b'{"texts": [', (400, 422)),
        Case("empty body", "/v1/classify", b"", (400, 422)),
        Case("control characters in a text", "/v1/classify", _json({"texts": [CONTROL]}), (200,)),
        Case("mixed scripts, bidi marks and emoji", "/v1/classify", _json({"texts": [MIXED]}), (200,)),
        Case("emoji only", "/v1/classify", _json({"texts": ["🇺🇦🔥💬🤝"]}), (200,)),
        Case("lone UTF-16 surrogate escaped in JSON", "/v1/classify", b'{"texts": ["peace \\ud800 talks"]}',
             (422,)),
        Case("lone surrogate in an article", "/v1/articles", b'{"text": "peace \\udfff talks"}', (422,)),
        Case("lone surrogate to /invocations", "/invocations", b'{"inputs": ["peace \\ud83d talks"]}', (422,)),
        Case("NUL escaped in JSON", "/v1/classify", b'{"texts": ["peace\\u0000talks"]}', (200,)),
        Case("unknown stance target", "/v1/classify", _json({"texts": [PASSAGE], "targets": ["crimea_bridge"]}),
             (422,)),
        Case("texts is a string", "/v1/classify", _json({"texts": PASSAGE}), (422,)),
        Case("texts holds numbers and null", "/v1/classify", _json({"texts": [1, None, 2.5]}), (422,)),
        Case("empty list of texts", "/v1/classify", _json({"texts": []}), (422,)),
        Case("whitespace-only text", "/v1/classify", _json({"texts": [" \n\t "]}), (422,)),
        Case("unknown field", "/v1/classify", _json({"texts": [PASSAGE], "model": "other"}), (200, 422)),
        Case("article over the character limit", "/v1/articles", _json({"text": "Peace talks. " * 20_000}), (413,)),
        Case("article with empty text", "/v1/articles", _json({"text": "   "}), (422,)),
        Case("unknown /invocations format", "/invocations", _json({"rows": [PASSAGE]}), (400,)),
        Case("/invocations without a text column", "/invocations",
             _json({"dataframe_split": {"columns": ["body"], "data": [[PASSAGE]]}}), (400, 422)),
        Case("invalid Content-Length header", "/v1/classify", _json({"texts": [PASSAGE]}), (400,),
             headers={"content-type": "application/json", "content-length": "abc"}),
        Case("admin reload without a token", "/admin/reload", b"", (401, 404), headers={}),
        Case("admin reload with a wrong token", "/admin/reload", b"", (401, 404),
             headers={"authorization": "Bearer wrong-token-0123456789"}),
        Case("GET on a POST route", "/v1/classify", b"", (405,), headers={}, method="GET"),
        Case("unknown path", "/v1/unknown", _json({}), (404,)),
        Case("oversized request id header is replaced", "/v1/classify", _json({"texts": [PASSAGE]}), (200,),
             headers={"content-type": "application/json", "x-request-id": "r" * 10_000}),
    ]


def _raw_request(base: str, case: Case, timeout: float) -> tuple[int, dict[str, str], bytes]:
    """Send exactly ``case.body`` with exactly ``case.headers`` (httpx would fix up a bad Content-Length)."""
    u = urlsplit(base)
    head = [f"{case.method} {case.path} HTTP/1.1", f"Host: {u.hostname}:{u.port}", "Connection: close"]
    hdrs = {k.lower(): v for k, v in case.headers.items()}
    hdrs.setdefault("content-length", str(len(case.body)))
    head += [f"{k}: {v}" for k, v in hdrs.items()]
    with socket.create_connection((u.hostname, u.port), timeout=timeout) as s:
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        # Like a client sending "Expect: 100-continue": a server that refuses on the headers alone
        # (e.g. a declared size over the limit) answers before the body goes out.
        early, _, _ = select.select([s], [], [], 0.3)
        if not early:
            try:
                s.sendall(case.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused mid-body; the answer is read below
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head_raw, _, body = data.partition(b"\r\n\r\n")
    lines = head_raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
    if headers.get("transfer-encoding") == "chunked":
        out, rest = b"", body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            out, rest = out + rest[:size], rest[size + 2:]
        body = out
    return status, headers, body


def slow_loris(base: str, stall_s: float) -> tuple[int | None, float]:
    """Declare a body, send a few bytes of it, then stall; return (status, seconds until answered)."""
    u = urlsplit(base)
    body = _json({"texts": [PASSAGE]})
    head = (f"POST /v1/classify HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    t0 = time.perf_counter()
    with socket.create_connection((u.hostname, u.port), timeout=stall_s) as s:
        s.sendall(head + body[:10])
        try:
            data = s.recv(65536)
        except TimeoutError:
            return None, time.perf_counter() - t0
    status = int(data.split(b"\r\n", 1)[0].split()[1]) if data else None
    return status, time.perf_counter() - t0


def run_matrix(base: str, timeout: float = 120.0, **limits: int) -> list[dict]:
    """Send every case; a record per case: status, whether it was expected, the ``detail`` given."""
    records = []
    for case in cases(**limits):
        try:
            status, headers, body = _raw_request(base, case, timeout)
        except OSError as exc:
            records.append({"case": case.name, "status": None, "ok": False, "detail": f"transport: {exc}"})
            continue
        detail = None
        if status >= 400:
            try:
                detail = json.loads(body).get("detail")
            except (ValueError, AttributeError):
                # refused by the HTTP parser before the app runs (e.g. a malformed header): plain text
                detail = body.decode("utf-8", "replace").strip() or None
        clear = status < 400 or (400 <= status < 500 and bool(detail))
        records.append({"case": case.name, "status": status, "ok": status in case.expect and clear,
                        "expected": list(case.expect), "detail": str(detail)[:160] if detail else None,
                        "request_id": headers.get("x-request-id")})
    return records
