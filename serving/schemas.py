"""Request and response models: the contract clients code against."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from serving.examples import request


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [request("classify")]})
    texts: list[str] = Field(..., description="Passages to label, in order", min_length=1)
    targets: list[str] | None = Field(None, description="Stance targets (default: every codebook target)")


SCORE = ("A probability in [0, 1]. The fine-tune's logits are temperature-scaled on validation and its score "
         "averaged with its TF-IDF partner's probability, so that of passages scored near 0.8 about 80% carry the "
         "label (experiments/benchmarks/calibration.py measures how closely)")


class FrameResult(BaseModel):
    score: float = Field(..., description=f"Probability that the passage uses the frame. {SCORE}")
    label: bool = Field(..., description="The decision: score at or above the frame's threshold (tuned on "
                                         "validation, listed by /v1/model)")


class StanceResult(BaseModel):
    label: str = Field(..., description="The stance class with the highest score: favor, against or neutral "
                                        "(neutral also when the passage does not address the target)")
    scores: dict[str, float] = Field(..., description="Probability of each stance class; they sum to 1. "
                                                      "Calibrated as frame scores are")


class PassageResult(BaseModel):
    frames: dict[str, FrameResult] = Field(..., description="Every frame of the codebook (GET /v1/labels), by id")
    stance: dict[str, StanceResult] = Field(..., description="Each requested stance target, by id")


class ModelRef(BaseModel):
    name: str = Field(..., description="Registered model name")
    version: str = Field(..., description="Registered version that produced this answer")
    alias: str | None = Field(..., description="Alias the version was resolved from (e.g. champion), if any")
    run_id: str | None = Field(..., description="MLflow run that trained the version")


class ClassifyResponse(BaseModel):
    model: ModelRef = Field(..., description="The model that answered")
    results: list[PassageResult] = Field(..., description="One result per text, in request order")


class ArticleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [request("articles")]})
    title: str | None = Field(None, description="Headline; labelled as the first passage when given")
    text: str = Field(..., description="The whole article; paragraphs separated by line breaks. It is labelled "
                                       "in passages: each paragraph, a paragraph over 100 words cut at sentence "
                                       "ends, a run of paragraphs under 8 words (datelines, subheads, list "
                                       "items) joined to the paragraph after it. An article of more passages "
                                       "than STANCE_MAX_ARTICLE_PASSAGES (default 256, the title counting as "
                                       "one) or more characters than STANCE_MAX_ARTICLE_CHARS (default "
                                       "200000) is refused with 413")
    targets: list[str] | None = Field(None, description="Stance targets (default: every codebook target)")


class ArticlePassage(PassageResult):
    index: int = Field(..., description="Position of the passage in the article, from 0 (the title first)")
    start: int = Field(..., description="Character offset in the text (title passages: in the title)")
    end: int = Field(..., description="Character offset just past the passage's end")
    source: str = Field(..., description="'title' or 'text'")
    text: str = Field(..., description="The passage as labelled: source[start:end]")


class Evidence(BaseModel):
    passage: int = Field(..., description="Index of a passage labelled with the frame (best first, at most 5)")
    score: float = Field(..., description="That passage's frame score")
    sentences: list[str] = Field(..., description="The passage's sentences labelled with the frame when scored "
                                                  "alone, or its highest-scoring sentence if none is")


class FrameSummary(BaseModel):
    share: float = Field(..., description="Share of passages labelled with the frame")
    max_score: float = Field(..., description="The highest frame score of any passage")
    evidence: list[Evidence] = Field(..., description="Where the frame is, passage by passage")


class StanceSummary(BaseModel):
    label: str = Field(..., description="The article's stance: the polar class (favor or against) labelled on "
                                        "more passages than the other; neutral when no passage takes a side or "
                                        "the two are tied")
    counts: dict[str, int] = Field(..., description="Number of passages with each stance label")
    mean_scores: dict[str, float] = Field(..., description="Each stance class's score averaged over all passages")


class ArticleSummary(BaseModel):
    passages: int = Field(..., description="Number of passages labelled")
    frames: dict[str, FrameSummary] = Field(..., description="Every frame, by id")
    stance: dict[str, StanceSummary] = Field(..., description="Each requested target, by id")


class ArticleResponse(BaseModel):
    model: ModelRef = Field(..., description="The model that answered")
    passages: list[ArticlePassage] = Field(..., description="The article's passages in order, each labelled")
    summary: ArticleSummary = Field(..., description="The article as a whole")


class ModelInfo(BaseModel):
    name: str = Field(..., description="Registered model name")
    version: str = Field(..., description="Registered version being served")
    alias: str | None = Field(..., description="Alias the version was resolved from, if any")
    run_id: str | None = Field(..., description="Run that logged the loaded model, read from its MLmodel file")
    model_id: str | None = Field(None, description="MLflow logged-model id, read from the loaded MLmodel file")
    digest: str | None = Field(None, description="SHA-256 over the loaded copy's files, verified before loading")
    source: str = Field(..., description="'registry' or 'cache' (registry unreachable at load)")
    loaded_at: str = Field(..., description="When the model was loaded (UTC, ISO 8601)")
    family: str | None = Field(..., description="Model family, read from the loaded files")
    codebook_version: str = Field(..., description="Version of the codebook the model was trained with")
    thresholds: dict[str, float] = Field(..., description="Per-frame decision threshold, tuned on validation")
    metrics: dict[str, float] = Field(..., description="Validation, test and realdev figures of the training run "
                                                       "(macro-F1 with 90% bootstrap intervals)")
    optimizations: list[str] = Field(default_factory=list, description="Inference optimisations applied at load")
    self_check: dict[str, Any] = Field(default_factory=dict, description="Scores of fixed passages at load, by the "
                                       "runtime served, compared with that runtime's scores stored at training")
    int8_check: dict[str, Any] | None = Field(None, description="The training-time check of the quantised model "
                                              "(macro-F1 deltas and changed decisions on validation, test, realdev)")


class InvocationsResponse(BaseModel):
    predictions: list[dict[str, Any]] = Field(..., description="One flat row per text: frame.<id>.score, "
                                              "frame.<id>.label, stance.<id>.label and stance.<id>.<class>")


class ErrorResponse(BaseModel):
    detail: Any = Field(..., description="What was wrong, naming the field or limit")
    request_id: str | None = Field(None, description="The request's id (X-Request-ID), also in the service log")
