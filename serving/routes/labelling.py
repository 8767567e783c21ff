"""``POST /v1/classify`` and ``POST /v1/articles``."""

from __future__ import annotations

from fastapi import APIRouter

from serving.deps import ModelDep, ServiceDep, SettingsDep
from serving.examples import ok
from serving.schemas import ArticleRequest, ArticleResponse, ClassifyRequest, ClassifyResponse
from serving.validation import check_article, check_targets, check_texts

router = APIRouter(tags=["classify"])


@router.post("/v1/classify", response_model=ClassifyResponse, responses=ok("classify"))
async def classify(body: ClassifyRequest, service: ServiceDep, model: ModelDep, cfg: SettingsDep) -> dict:
    """Label passages: every frame's score and decision, and stance per target."""
    texts = check_texts(body.texts, cfg.max_texts, cfg.max_text_chars)
    targets = check_targets(model.predictor.codebook.target_ids, body.targets)
    results = await service.classify(model, texts, targets)
    return {"model": model.ref(), "results": results}


@router.post("/v1/articles", response_model=ArticleResponse, responses=ok("articles"))
async def articles(body: ArticleRequest, service: ServiceDep, model: ModelDep, cfg: SettingsDep) -> dict:
    """Split an article into passages, label each, and summarise the article with evidence."""
    check_article(body.title, body.text, cfg)
    targets = check_targets(model.predictor.codebook.target_ids, body.targets)
    out = await service.article(model, body.title, body.text, targets, cfg.max_article_passages,
                                evidence_sentences=body.evidence_sentences)
    return {"model": model.ref(), **out}
