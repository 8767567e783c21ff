"""Load the model from the MLflow registry, keep a local copy, and fall back to it when offline.

The service only ever loads what ``STANCE_MODEL_URI`` names in the configured registry. The
local copy is the last version it loaded from there, kept so a restart can serve while the
tracking server is down (and ``/readyz`` says so).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[\w-]+)|/(?P<version>\d+))$")


class ModelLoadError(RuntimeError):
    """The model could not be loaded from the registry nor from the local copy."""


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
    import mlflow.pyfunc

    from training.basemodel import force_offline

    force_offline()
    pyfunc = mlflow.pyfunc.load_model(str(model_dir))
    wrapped = pyfunc.unwrap_python_model()
    predictor = getattr(wrapped, "predictor", None)
    if predictor is None:
        raise ModelLoadError(f"{model_dir} is not a stance-framing model (no predictor inside)")
    return predictor


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

    def _resolve(self) -> tuple[str, str | None]:
        """(version, run_id) the URI points at now; raises if the registry is unreachable."""
        from mlflow import MlflowClient

        from training.tracking import default_tracking_uri

        uri = self.tracking_uri or default_tracking_uri()
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        mv = (client.get_model_version_by_alias(self.name, self.alias) if self.alias
              else client.get_model_version(self.name, self.version))
        return str(mv.version), mv.run_id

    def _download(self, version: str) -> Path:
        """Copy version ``version`` into the cache (atomically: a half download is never used)."""
        import mlflow
        from mlflow import MlflowClient

        from training.tracking import default_tracking_uri

        dest = self.cache_dir / self.name / f"v{version}"
        if (dest / "MLmodel").is_file():
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".v{version}-", dir=dest.parent))
        try:
            # the URI is passed, never set globally: a process may talk to several stores
            uri = self.tracking_uri or default_tracking_uri()
            source = MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version_download_uri(
                self.name, version)
            got = Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(tmp), tracking_uri=uri))
            if not (got / "MLmodel").is_file():
                raise ModelLoadError(f"models:/{self.name}/{version} has no MLmodel file")
            if dest.exists():
                shutil.rmtree(dest)
            got.rename(dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return dest

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
            version, run_id = self._resolve()
            path = self._download(version)
        except ModelLoadError:
            raise
        except Exception as exc:  # noqa: BLE001 - registry down shows up as many exception types
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
