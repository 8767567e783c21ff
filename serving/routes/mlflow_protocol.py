"""``POST /invocations``: the MLflow scoring-server protocol, so MLflow clients can call this service."""

from __future__ import annotations

from fastapi import APIRouter, Request

from serving.deps import ModelDep, ServiceDep, SettingsDep
from serving.examples import ok, request
from serving.schemas import InvocationsResponse
from serving.validation import check_targets, check_texts, parse_invocation, read_json, targets_param
from stance_model.predictor import flatten_result

router = APIRouter(tags=["mlflow"])

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
"""The request body as OpenAPI (parsed by hand: the four formats share a route)."""


@router.post("/invocations", response_model=InvocationsResponse, responses=ok("invocations"),
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": INVOCATIONS_SCHEMA, "example": request("invocations")}}}})
async def invocations(request: Request, service: ServiceDep, model: ModelDep, cfg: SettingsDep) -> dict:
    """MLflow scoring-server protocol: dataframe_split, dataframe_records, inputs or instances."""
    texts, params = parse_invocation(read_json(await request.body()))
    texts = check_texts(texts, cfg.max_texts, cfg.max_text_chars, field="text")
    targets = check_targets(model.predictor.codebook.target_ids, targets_param(params))
    results = await service.classify(model, texts, targets)
    return {"predictions": [flatten_result(r) for r in results]}
