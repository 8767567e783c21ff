"""``GET /v1/corrections`` and ``POST /v1/corrections``: analysts' corrections of the model's labels, appended to
the corrections queue (``labels/queue.py``) for the annotation loop. Off unless STANCE_ANNOTATION_TOKEN is set."""

from __future__ import annotations

import asyncio
import errno
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from labels.queue import CorrectionError, QueueWriteError, append, check_correction
from serving.deps import ModelDep, ServiceDep, SettingsDep, bearer_ok
from serving.errors import error_response
from serving.examples import ok
from serving.schemas import CorrectionRequest, CorrectionsStatus, ErrorResponse
from serving.validation import check_texts

router = APIRouter(tags=["corrections"])


@router.get("/v1/corrections", response_model=CorrectionsStatus, responses=ok("corrections_status"))
async def status(cfg: SettingsDep) -> dict:
    """Whether the service takes corrections."""
    return {"enabled": cfg.annotation_token is not None}


@router.post("/v1/corrections", status_code=201,
             responses={**ok("corrections", status=201), 401: {"model": ErrorResponse},
                        404: {"model": ErrorResponse}, 507: {"model": ErrorResponse}})
async def correct(body: CorrectionRequest, request: Request, service: ServiceDep, model: ModelDep, cfg: SettingsDep,
                  authorization: Annotated[str | None, Header()] = None) -> JSONResponse:
    """Record that the model got labels of a passage wrong, with the right ones (bearer token).

    The passage is labelled again by the model serving now, and its answer is stored beside the correction.
    401 without the token; 422 naming a label the codebook lacks; 507 (disk full) or 503 (queue not
    writable) when the line cannot be written, in which case nothing of it is."""
    if cfg.annotation_token is None:
        return error_response(404, "corrections are disabled (no STANCE_ANNOTATION_TOKEN)", request)
    if not bearer_ok(authorization, cfg.annotation_token.get_secret_value()):
        return error_response(401, "missing or wrong bearer token", request, {"WWW-Authenticate": "Bearer"})
    codebook = model.predictor.codebook
    try:
        correction = check_correction(body.correction.model_dump(), codebook)
    except CorrectionError as exc:
        return error_response(422, str(exc), request)
    (text,) = check_texts([body.text], cfg.max_texts, cfg.max_text_chars)
    (answer,) = await service.classify(model, [text], None)
    record = {"id": uuid.uuid4().hex, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
              "text": text, "title": body.title, "date": body.date,
              "model": {**model.ref(), "digest": model.digest}, "codebook_version": codebook.version,
              "answer": answer, "correction": correction, "note": body.note}
    try:
        await asyncio.to_thread(append, cfg.corrections_path, record)
    except QueueWriteError as exc:
        status_code = 507 if exc.errno in (errno.ENOSPC, errno.EDQUOT) else 503
        return error_response(status_code, str(exc.strerror), request)
    return JSONResponse({k: record[k] for k in ("id", "created_at", "answer", "correction")} | {"model": model.ref()},
                        status_code=201)
