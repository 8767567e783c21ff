"""Request and response models: the contract clients code against."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[str] = Field(..., description="Passages to label, in order", min_length=1)
    targets: list[str] | None = Field(None, description="Stance targets (default: every codebook target)")


class FrameResult(BaseModel):
    score: float
    label: bool


class StanceResult(BaseModel):
    label: str
    scores: dict[str, float]


class PassageResult(BaseModel):
    frames: dict[str, FrameResult]
    stance: dict[str, StanceResult]


class ModelRef(BaseModel):
    name: str
    version: str
    alias: str | None
    run_id: str | None


class ClassifyResponse(BaseModel):
    model: ModelRef
    results: list[PassageResult]


class ArticleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(None, description="Headline; labelled as the first passage when given")
    text: str = Field(..., description="The whole article; paragraphs separated by line breaks. It is labelled "
                                       "in passages: each paragraph, a paragraph over 100 words cut at sentence "
                                       "ends, a run of paragraphs under 8 words (datelines, subheads, list "
                                       "items) joined to the paragraph after it. An article of more passages "
                                       "than STANCE_MAX_ARTICLE_PASSAGES (default 256, the title counting as "
                                       "one) or more characters than STANCE_MAX_ARTICLE_CHARS (default "
                                       "200000) is refused with 413")
    targets: list[str] | None = None


class ArticlePassage(PassageResult):
    index: int
    start: int = Field(..., description="Character offset in the text (title passages: in the title)")
    end: int
    source: str = Field(..., description="'title' or 'text'")
    text: str


class Evidence(BaseModel):
    passage: int
    score: float
    sentences: list[str]


class FrameSummary(BaseModel):
    share: float = Field(..., description="Share of passages labelled with the frame")
    max_score: float
    evidence: list[Evidence]


class StanceSummary(BaseModel):
    label: str
    counts: dict[str, int]
    mean_scores: dict[str, float]


class ArticleSummary(BaseModel):
    passages: int
    frames: dict[str, FrameSummary]
    stance: dict[str, StanceSummary]


class ArticleResponse(BaseModel):
    model: ModelRef
    passages: list[ArticlePassage]
    summary: ArticleSummary


class ModelInfo(BaseModel):
    name: str
    version: str
    alias: str | None
    run_id: str | None = Field(..., description="Run that logged the loaded model, read from its MLmodel file")
    model_id: str | None = Field(None, description="MLflow logged-model id, read from the loaded MLmodel file")
    digest: str | None = Field(None, description="SHA-256 over the loaded copy's files, verified before loading")
    source: str = Field(..., description="'registry' or 'cache' (registry unreachable at load)")
    loaded_at: str
    family: str | None = Field(..., description="Model family, read from the loaded files")
    codebook_version: str
    thresholds: dict[str, float]
    metrics: dict[str, float]
    optimizations: list[str] = Field(default_factory=list, description="Inference optimisations applied at load")
    self_check: dict[str, Any] = Field(default_factory=dict, description="Scores of fixed passages at load, by the "
                                       "runtime served, compared with that runtime's scores stored at training")
    int8_check: dict[str, Any] | None = Field(None, description="The training-time check of the quantised model "
                                              "(macro-F1 deltas and changed decisions on validation, test, realdev)")


class InvocationsResponse(BaseModel):
    predictions: list[dict[str, Any]]


class ErrorResponse(BaseModel):
    detail: Any
    request_id: str | None = None
