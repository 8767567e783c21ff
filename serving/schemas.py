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


CONFIDENT = ("True when the decision's probability reaches the threshold chosen on validation so that at least "
             "90% of the validation decisions at or above it were right (thresholds and their measured precision "
             "and coverage on validation, test, realdev and off-topic news: GET /v1/model). null for a model "
             "trained without confidence thresholds")


class FrameResult(BaseModel):
    score: float = Field(..., description=f"Probability that the passage uses the frame. {SCORE}")
    label: bool = Field(..., description="The decision: score at or above the frame's threshold (tuned on "
                                         "validation, listed by /v1/model)")
    confident: bool | None = Field(None, description="Whether the decision is confident. A decision's probability "
                                   f"is the score when the frame is given, 1 - score when not. {CONFIDENT}")


class StanceResult(BaseModel):
    label: str = Field(..., description="The stance class with the highest score: favor, against or neutral "
                                        "(neutral also when the passage does not address the target)")
    scores: dict[str, float] = Field(..., description="Probability of each stance class; they sum to 1. "
                                                      "Calibrated as frame scores are")
    confident: bool | None = Field(None, description="Whether the label is confident: its score (the highest "
                                   f"class score) is compared with the target's threshold. {CONFIDENT}")


class PassageResult(BaseModel):
    frames: dict[str, FrameResult] = Field(..., description="Every frame of the codebook (GET /v1/labels), by id")
    stance: dict[str, StanceResult] = Field(..., description="Each requested stance target, by id")
    in_scope: float | None = Field(None, description="Probability that the passage is about the Russia-Ukraine war "
                                   "or European security at all, from a detector trained with the model (the "
                                   "corpus's passages against news on other subjects). Under 0.5: the frames and "
                                   "stance describe text the model was not made for; filter on it. null for a "
                                   "model trained without one")


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
    evidence_sentences: bool = Field(True, description="Find the sentences behind each frame and side: the "
                                     "sentences of the cited passages (those of more than one sentence) are "
                                     "labelled again, one at a time: an answer took 1.79 times as long as "
                                     "labelling the passages alone (experiments/benchmarks/EVIDENCE.md). false: "
                                     "evidence names passages only, with empty sentence lists")


class ArticlePassage(PassageResult):
    index: int = Field(..., description="Position of the passage in the article, from 0 (the title first)")
    start: int = Field(..., description="Character offset in the text (title passages: in the title)")
    end: int = Field(..., description="Character offset just past the passage's end")
    source: str = Field(..., description="'title' or 'text'")
    text: str = Field(..., description="The passage as labelled: source[start:end]")


class EvidenceSentence(BaseModel):
    start: int = Field(..., description="Character offset of the sentence in the submitted text (in the title when "
                                        "the passage's source is 'title')")
    end: int = Field(..., description="Character offset just past the sentence's end")
    text: str = Field(..., description="The sentence: source[start:end]")
    score: float = Field(..., description="The sentence's score, labelled on its own, for the frame or the stance "
                                          "side it is evidence for")


class Evidence(BaseModel):
    passage: int = Field(..., description="Index of a passage carrying the frame or the side (best first, at most 5)")
    source: str = Field(..., description="'title' or 'text': what the sentences' offsets index into")
    score: float = Field(..., description="That passage's score for the frame or the side")
    sentences: list[EvidenceSentence] = Field(..., description="The passage's sentences that carry the frame or the "
                                              "side when labelled on their own, or its best-scoring sentence if none "
                                              "does. A passage of one sentence is that sentence, not labelled again")


class StanceEvidence(Evidence):
    label: str = Field(..., description="The side this passage is evidence for (favor or against)")


class FrameSummary(BaseModel):
    share: float = Field(..., description="Share of passages labelled with the frame")
    max_score: float = Field(..., description="The highest frame score of any passage")
    evidence: list[Evidence] = Field(..., description="Where the frame is, passage by passage")


STANCE_RULE = ("Passages labelled favor or against vote for their label, each with its calibrated score as weight. "
               "The side with more weight wins; margin = (winner's weight - other side's weight) / both weights, "
               "from 0 (a tie) to 1 (one side only). A margin under 1/3 (the weaker side holds over a third of the "
               "weight) gives 'mixed'. With no passage on either side: 'neutral' when a passage carries the "
               "target's frame (the subject is discussed without a side: security_guarantee for nato_protection, "
               "territorial_compromise for territorial_concession, per the codebook), else 'not addressed'")


class StanceSummary(BaseModel):
    label: str = Field(..., description=f"The article's stance: favor, against, mixed, neutral or not addressed. "
                                        f"{STANCE_RULE}")
    margin: float | None = Field(..., description="How clear the call is, from 0 (a tie between sides) to 1 (only "
                                                  "one side); null when no passage takes a side")
    weights: dict[str, float] = Field(..., description="Each side's weight: the sum of the scores of the passages "
                                                       "labelled with it")
    counts: dict[str, int] = Field(..., description="Number of passages with each stance label")
    mean_scores: dict[str, float] = Field(..., description="Each stance class's score averaged over all passages")
    evidence: list[StanceEvidence] = Field(..., description="The passages behind the label, best first, at most 5 "
                                           "per side: the winning side's, both sides' when mixed, none when "
                                           "neutral or not addressed")


class ArticleSummary(BaseModel):
    passages: int = Field(..., description="Number of passages labelled")
    in_scope_share: float | None = Field(None, description="Share of passages whose in_scope score is at least 0.5; "
                                         "a low share means the article is mostly not about the war or European "
                                         "security. null for a model without an in_scope detector")
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
    metrics: dict[str, float] = Field(..., description="Figures of the training run: validation (val_), test "
                                      "(test_) and realdev (realdev_, passages rewritten from real news) "
                                      "macro-F1 and stance F_avg (the mean F1 of favor and against) with 90% "
                                      "bootstrap intervals (_ci_low, _ci_high); confident decisions' precision and "
                                      "coverage per split (_confident_); the in_scope detector's rates (scope_) and "
                                      "what the model says of held-out off-topic news (offtopic_)")
    confidence: dict[str, Any] | None = Field(None, description="The confidence thresholds: the precision they were "
                                              "chosen for on validation, per frame and per target (1.01: no "
                                              "decision of that label is confident)")
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


class CorrectionLabels(BaseModel):
    model_config = ConfigDict(extra="forbid")
    frames: dict[str, bool] = Field(default_factory=dict, description="Frames the model got wrong, by id: true "
                                    "when the passage carries the frame, false when it does not")
    stance: dict[str, str] = Field(default_factory=dict, description="Stance targets the model got wrong, by id, "
                                   "each with the right label (favor, against or neutral)")


class CorrectionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [request("corrections")]})
    text: str = Field(..., description="The passage as the service labelled it (an article passage's text)",
                      min_length=1)
    title: str | None = Field(None, description="Headline of the article the passage came from, for context")
    date: str | None = Field(None, description="Publication date of the article (YYYY-MM-DD), if known",
                             pattern=r"^\d{4}-\d{2}-\d{2}$")
    correction: CorrectionLabels = Field(..., description="Only the labels that were wrong, with the right ones; "
                                         "labels not in the codebook are refused with 422")
    note: str | None = Field(None, description="Why, in the analyst's words", max_length=2000)


class CorrectionResponse(BaseModel):
    id: str = Field(..., description="The correction's id in the queue")
    created_at: str = Field(..., description="When it was written (UTC, ISO 8601)")
    model: ModelRef = Field(..., description="The model whose answer was corrected: the one serving now, which "
                                             "labelled the passage again for the record")
    answer: PassageResult = Field(..., description="That model's answer to the passage, stored beside the "
                                                   "correction")
    correction: CorrectionLabels = Field(..., description="The correction as stored")


class CorrectionsStatus(BaseModel):
    enabled: bool = Field(..., description="Whether corrections are taken (STANCE_ANNOTATION_TOKEN is set)")
