"""Load the model from the MLflow registry, keep a local copy, and fall back to it when offline.

The service only ever loads what ``STANCE_MODEL_URI`` names in the configured registry. The
local copy is the last version it loaded from there, kept so a restart can serve while the
tracking server is down (and ``/readyz`` says so).
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serving.fetch import NOT_A_MODEL

log = logging.getLogger(__name__)

_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[\w-]+)|/(?P<version>\d+))$")


class ModelLoadError(RuntimeError):
    """The model could not be loaded from the registry nor from the local copy."""


class RegistryUnavailable(RuntimeError):
    """The registry could not be reached, or does not know the URI."""


FETCH_TIMEOUT_S = 120


@dataclass
class LoadedModel:
    """A loaded predictor and where it came from."""

    predictor: Any  # training.predictor.Predictor
    name: str
    version: str
    alias: str | None
    run_id: str | None
    source: str  # "registry" or "cache"
    loaded_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

    def ref(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "alias": self.alias, "run_id": self.run_id}


def parse_model_uri(uri: str) -> tuple[str, str | None, str | None]:
    """(name, alias, version) of ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``."""
    m = _URI.match(uri)
    if not m:
        raise ModelLoadError(f"model URI {uri!r} must be models:/NAME@ALIAS or models:/NAME/VERSION")
    return m["name"], m["alias"], m["version"]


def _load_predictor(model_dir: Path) -> Any:
    """The predictor inside a downloaded model folder, loaded without MLflow (see ``serving.fetch``)."""
    from training.basemodel import force_offline
    from training.predictor import Predictor

    force_offline()
    found = [m.parent for m in sorted(Path(model_dir).rglob("meta.json")) if (m.parent / "classifier").is_dir()]
    if not (Path(model_dir) / "MLmodel").is_file() or not found:
        raise ModelLoadError(f"{model_dir} is not a stance-framing model (no predictor inside)")
    return Predictor.load(found[0])


class ModelStore:
    """Resolves the configured URI in the registry and manages the local copy."""

    def __init__(self, model_uri: str, tracking_uri: str | None, cache_dir: Path, torch_threads: int = 0,
                 int8: bool = False) -> None:
        self.model_uri = model_uri
        self.tracking_uri = tracking_uri
        self.cache_dir = Path(cache_dir)
        self.torch_threads = torch_threads
        self.int8 = int8
        self.name, self.alias, self.version = parse_model_uri(model_uri)

    def _manifest_path(self) -> Path:
        return self.cache_dir / self.name / "current.json"

    def _fetch(self) -> tuple[str, str | None, Path]:
        """(version, run_id, local folder) of what the URI names now, via ``python -m serving.fetch``.

        Raises ``RegistryUnavailable`` when the registry cannot answer, ``ModelLoadError`` when the
        version is there but is not a model.
        """
        from training.config import default_tracking_uri

        uri = self.tracking_uri or default_tracking_uri()
        cmd = [sys.executable, "-m", "serving.fetch", "--model-uri", self.model_uri, "--tracking-uri", uri,
               "--cache-dir", str(self.cache_dir)]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=FETCH_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as exc:
            raise RegistryUnavailable(f"no answer within {FETCH_TIMEOUT_S} s") from exc
        reason = (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1]
        if out.returncode == 0:
            got = json.loads(out.stdout.strip().splitlines()[-1])
            return got["version"], got["run_id"], Path(got["path"])
        if out.returncode == NOT_A_MODEL:
            raise ModelLoadError(f"{self.model_uri}: {reason}")
        raise RegistryUnavailable(reason)

    def _write_manifest(self, version: str, run_id: str | None) -> None:
        path = self._manifest_path()
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"name": self.name, "version": version, "alias": self.alias,
                                   "run_id": run_id, "model_uri": self.model_uri}))
        tmp.replace(path)

    def load(self, allow_cache: bool = True) -> LoadedModel:
        """Load what the URI names now; if the registry is unreachable, the local copy (if any).

        Raises ``ModelLoadError`` if neither works. A version that downloads but fails to load
        raises too (never falls back silently to an older version).
        """
        if self.torch_threads:
            import torch

            torch.set_num_threads(self.torch_threads)
        try:
            version, run_id, path = self._fetch()
        except RegistryUnavailable as exc:
            if not allow_cache:
                raise ModelLoadError(f"registry unavailable for {self.model_uri}: {exc}") from exc
            return self._load_cached(exc)
        try:
            predictor = self._prepare(_load_predictor(path))
        except Exception as exc:  # noqa: BLE001
            raise ModelLoadError(f"{self.name} version {version} failed to load: {exc}") from exc
        self._write_manifest(version, run_id)
        return LoadedModel(predictor, self.name, version, self.alias, run_id, "registry")

    def _prepare(self, predictor: Any) -> Any:
        applied = predictor.optimize_for_inference(int8=self.int8)
        log.info("inference optimisations: %s", ", ".join(applied) or "none")
        return predictor

    def _load_cached(self, cause: Exception) -> LoadedModel:
        manifest = self._manifest_path()
        if not manifest.is_file():
            raise ModelLoadError(f"registry unavailable for {self.model_uri} ({cause}) and no local copy "
                                 f"in {self.cache_dir}") from cause
        info = json.loads(manifest.read_text())
        path = self.cache_dir / self.name / f"v{info['version']}"
        log.warning("registry unavailable (%s); serving the local copy of %s version %s",
                    type(cause).__name__, self.name, info["version"])
        try:
            predictor = self._prepare(_load_predictor(path))
        except Exception as exc:  # noqa: BLE001
            raise ModelLoadError(f"the local copy {path} failed to load: {exc}") from exc
        return LoadedModel(predictor, self.name, str(info["version"]), info.get("alias"), info.get("run_id"), "cache")
