"""Service settings from environment variables (prefix ``STANCE_``), read once per process."""

from __future__ import annotations

import ipaddress
import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from labels.queue import DEFAULT_QUEUE_FILE
from stance_model.project import REPO_ROOT


def is_loopback(host: str) -> bool:
    """Whether a bind address only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    """Everything the service can be told; the table in docs/service.md lists it."""

    model_config = SettingsConfigDict(env_prefix="STANCE_", extra="ignore")

    model_uri: str = Field("models:/stance-framing@champion",
                           description="Registry URI of the model: models:/NAME@ALIAS or models:/NAME/VERSION")
    tracking_uri: str | None = Field(None, description="MLflow tracking/registry URI (default: MLFLOW_TRACKING_URI, "
                                                       "else the embedded sqlite store at the repo root)")
    cache_dir: Path = Field(REPO_ROOT / "var" / "model-cache",
                            description="Verified local copies of loaded versions; the copy last served for the "
                                        "same URI and registry is used when the registry cannot be reached")
    max_texts: int = Field(64, ge=1, le=4096, description="Most texts in one request")
    max_text_chars: int = Field(20_000, ge=100, le=1_000_000, description="Most characters in one text")
    max_article_chars: int = Field(200_000, ge=1000, le=5_000_000, description="Most characters in one article")
    max_article_passages: int = Field(256, ge=1, le=10_000, description="Most passages one article may split "
                                                                        "into (413 beyond)")
    max_body_bytes: int = Field(1_000_000, ge=1024, le=50_000_000, description="Largest request body")
    body_timeout_s: float = Field(10.0, gt=0, le=600, description="Seconds to receive a whole request body "
                                                                 "(408 beyond: slow clients cannot hold connections)")
    request_timeout_s: float = Field(30.0, gt=0, le=3600, description="Seconds a labelling request may take once "
                                                                     "its body has arrived; beyond it the work "
                                                                     "is cancelled and the answer is 504")
    header_timeout_s: float = Field(10.0, gt=0, le=600, description="Seconds a connection may take to send a "
                                                                   "request's line and headers (closed beyond)")
    keepalive_timeout_s: float = Field(5.0, gt=0, le=600, description="Seconds an idle keep-alive connection "
                                                                     "stays open between requests")
    max_connections: int = Field(1000, ge=1, le=100_000, description="Open connections at most; one more is "
                                                                    "answered 503 and closed")
    max_batch_size: int = Field(32, ge=1, le=512, description="Most passages in one model batch")
    max_queue: int = Field(512, ge=1, le=100_000, description="Most passages waiting; beyond it requests get 503")
    torch_threads: int = Field(0, ge=0, le=256, description="Torch intra-op threads per batch (0: every core "
                                                           "for a batch running alone, an even share when "
                                                           "several run at once)")
    inference_workers: int = Field(2, ge=1, le=64, description="Batches run at once, each in its own thread")
    int8: bool = Field(True, description="Serve the model's int8 graph (ONNX Runtime, one passage per run, so a "
                                         "passage's scores do not depend on its batch) when the model's own "
                                         "training-time int8 check passed; otherwise fp32")
    admin_token: SecretStr | None = Field(None, description="Bearer token for /admin routes; unset disables them")
    annotation_token: SecretStr | None = Field(None, description="Bearer token analysts give to send corrections "
                                               "(POST /v1/corrections, the page's Correct buttons); unset "
                                               "disables corrections")
    corrections_path: Path = Field(DEFAULT_QUEUE_FILE, description="Append-only JSONL file corrections are "
                                                                   "written to (read by `python -m labels "
                                                                   "annotate select`)")
    cors_origins: list[str] = Field(default_factory=list, description="Allowed CORS origins (default: CORS off)")
    metrics_auth: Literal["auto", "token", "open"] = Field(
        "auto", description="Who may read /metrics: 'open', 'token' (the admin bearer token), or 'auto': open "
                            "when bound to a loopback address, the token otherwise")
    host: str = Field("127.0.0.1", description="Bind address (overridden by --host)")
    port: int = Field(8000, ge=0, le=65535, description="Port (overridden by --port)")
    retry_after_s: int = Field(2, ge=1, le=600, description="Retry-After seconds on 503")

    @property
    def metrics_need_token(self) -> bool:
        """Whether /metrics asks for the admin token."""
        if self.metrics_auth != "auto":
            return self.metrics_auth == "token"
        return not is_loopback(self.host)

    @property
    def threads_per_worker(self) -> int:
        """Torch threads of a batch running beside others."""
        return self.torch_threads or max(1, (os.cpu_count() or 1) // self.inference_workers)

    @property
    def threads_alone(self) -> int:
        """Torch threads of a batch running alone with nothing queued (every core, unless set)."""
        return self.torch_threads or (os.cpu_count() or 1)

    @field_validator("model_uri")
    @classmethod
    def _registry_only(cls, v: str) -> str:
        if not v.startswith("models:/"):
            raise ValueError("STANCE_MODEL_URI must be a registry URI (models:/NAME@ALIAS or models:/NAME/VERSION)")
        return v

    @field_validator("admin_token", "annotation_token")
    @classmethod
    def _strong_token(cls, v: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if v is not None and len(v.get_secret_value()) < 16:
            raise ValueError(f"STANCE_{(info.field_name or '').upper()} must be at least 16 characters")
        return v

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard(cls, v: list[str]) -> list[str]:
        if "*" in v:
            raise ValueError("STANCE_CORS_ORIGINS may not be '*'; list the origins")
        return v


@lru_cache
def get_settings() -> Settings:
    return Settings()
