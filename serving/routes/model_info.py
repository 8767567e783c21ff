"""``GET /v1/labels`` and ``GET /v1/model``: what is served."""

from __future__ import annotations

from fastapi import APIRouter

from serving.deps import ModelDep
from serving.examples import ok
from serving.schemas import ModelInfo

router = APIRouter(tags=["model"])


@router.get("/v1/labels", responses=ok("labels"))
async def labels(model: ModelDep) -> dict:
    """The codebook the served model was trained with."""
    return model.predictor.codebook.to_dict()


@router.get("/v1/model", response_model=ModelInfo, responses=ok("model"))
async def model_info(model: ModelDep) -> dict:
    """Which version is served, where it came from, its metrics and thresholds."""
    meta = model.predictor.meta
    return {**model.ref(), "model_id": model.model_id, "digest": model.digest, "source": model.source,
            "loaded_at": model.loaded_at, "family": meta.get("family"), "self_check": meta.get("self_check", {}),
            "int8_check": meta.get("int8_check"), "codebook_version": model.predictor.codebook.version,
            "thresholds": model.predictor.thresholds, "confidence": meta.get("confidence"),
            "metrics": {k: float(v) for k, v in meta.get("metrics", {}).items()},
            "optimizations": list(meta.get("inference_optimizations", []))}
