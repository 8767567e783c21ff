"""Load the model from the MLflow registry, keep verified local copies, and fall back to one only when offline.

The service only ever loads what ``STANCE_MODEL_URI`` names in the configured registry. A copy is
keyed by the version's identity (``serving.copies``) and checked against its digest before every
load; the weights are read into the process's own memory. When the registry cannot be reached the
service may serve the copy last served for the same URI in the same registry (``/readyz`` says so);
when the registry answers that the URI names nothing, it does not start serving at all.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serving.copies import (
    CopyDamaged,
    manifest_path,
    read_manifest,
    redact_uri,
    registry_identity,
    verify_copy,
    write_manifest,
)
from serving.fetch import NOT_A_MODEL, NOT_FOUND, parse_model_uri

log = logging.getLogger(__name__)



class ModelLoadError(RuntimeError):
    """The model could not be loaded from the registry nor from the local copy."""


class ModelNotFound(ModelLoadError):
    """The registry answered: the URI names no model version (never falls back to a copy)."""


class RegistryUnavailable(RuntimeError):
    """The registry could not be reached."""


FETCH_TIMEOUT_S = 120


@dataclass
class LoadedModel:
    """A loaded predictor and where it came from. ``run_id``, ``model_id`` and ``digest`` are read
    from the loaded files (the copy's ``MLmodel`` and its verified digest), not from the registry."""

    predictor: Any  # stance_model.Predictor
    name: str
    version: str
    alias: str | None
    run_id: str | None
    source: str  # "registry" or "cache"
    model_id: str | None = None
    digest: str | None = None
    loaded_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

    def ref(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "alias": self.alias, "run_id": self.run_id}


def _mlmodel_ids(model_dir: Path) -> tuple[str | None, str | None]:
    """(run id, model id) recorded in the copy's ``MLmodel`` file."""
    import yaml

    try:
        doc = yaml.safe_load((Path(model_dir) / "MLmodel").read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ModelLoadError(f"{model_dir}/MLmodel is unreadable: {exc}") from exc
    return doc.get("run_id"), doc.get("model_id")


def _load_predictor(model_dir: Path) -> Any:
    """The predictor inside a model folder, loaded without MLflow (see ``serving.fetch``)."""
    from stance_model.offline import force_offline
    from stance_model.predictor import Predictor

    force_offline()
    found = [m.parent for m in sorted(Path(model_dir).rglob("meta.json")) if (m.parent / "classifier").is_dir()]
    if not (Path(model_dir) / "MLmodel").is_file() or not found:
        raise ModelLoadError(f"{model_dir} is not a stance-framing model (no predictor inside)")
    return Predictor.load(found[0])


def _import_runtime() -> None:
    """Import what loading a model needs (torch, the tokenizer library, ONNX Runtime)."""
    import stance_model.predictor  # noqa: F401
    from stance_model.offline import force_offline

    force_offline()
    import transformers  # noqa: F401

    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        pass


class ModelStore:
    """Resolves the configured URI in the registry and manages the verified local copies."""

    def __init__(self, model_uri: str, tracking_uri: str | None, cache_dir: Path, torch_threads: int = 0,
                 int8: bool = False) -> None:
        from stance_model.project import default_tracking_uri

        self.model_uri = model_uri
        self.tracking_uri = tracking_uri or default_tracking_uri()
        self.registry = registry_identity(self.tracking_uri)
        self.cache_dir = Path(cache_dir)
        self.torch_threads = torch_threads
        self.int8 = int8
        try:
            self.name, self.alias, self.version = parse_model_uri(model_uri)
        except ValueError as exc:
            raise ModelLoadError(str(exc)) from None

    def _manifest_path(self) -> Path:
        return manifest_path(self.cache_dir, self.registry, self.name, self.model_uri)

    def _fetch(self) -> tuple[str, Path]:
        """(version, verified local folder) of what the URI names now, via ``python -m serving.fetch``.

        Raises ``RegistryUnavailable`` when the registry cannot be reached, ``ModelNotFound`` when
        it answers that the URI names nothing, ``ModelLoadError`` when the version holds no model.
        """
        cmd = [sys.executable, "-m", "serving.fetch", "--model-uri", self.model_uri, "--tracking-uri",
               self.tracking_uri, "--cache-dir", str(self.cache_dir)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _import_runtime()  # while the child asks the registry: both take seconds, on different cores
        try:
            stdout, stderr = proc.communicate(timeout=FETCH_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            proc.kill()
            proc.communicate()
            raise RegistryUnavailable(f"no answer within {FETCH_TIMEOUT_S} s") from exc
        reason = redact_uri((stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1])
        if proc.returncode == 0:
            got = json.loads(stdout.strip().splitlines()[-1])
            return got["version"], Path(got["path"])
        if proc.returncode == NOT_FOUND:
            raise ModelNotFound(f"{self.model_uri}: {reason}")
        if proc.returncode == NOT_A_MODEL:
            raise ModelLoadError(f"{self.model_uri}: {reason}")
        raise RegistryUnavailable(reason)

    def load(self, allow_cache: bool = True) -> LoadedModel:
        """Load what the URI names now; if the registry cannot be reached, the copy last served for
        this URI from this registry (with ``allow_cache``).

        Raises ``ModelNotFound`` when the registry says the URI names nothing, ``ModelLoadError``
        when nothing can be served. A version that downloads but fails to load or to pass its
        self-check raises too (never falls back silently to another version).
        """
        if self.torch_threads:
            import torch

            torch.set_num_threads(self.torch_threads)
        try:
            version, path = self._fetch()
        except RegistryUnavailable as exc:
            if not allow_cache:
                raise ModelLoadError(f"registry unavailable for {self.model_uri}: {exc}") from exc
            return self._load_cached(exc)
        try:
            loaded = self._load_copy(path, version, self.alias, "registry")
        except ModelLoadError:
            raise
        except Exception as exc:
            raise ModelLoadError(f"{self.name} version {version} failed to load: {exc}") from exc
        write_manifest(self._manifest_path(), {
            "model_uri": self.model_uri, "registry": redact_uri(self.registry), "name": self.name,
            "version": version, "alias": self.alias, "run_id": loaded.run_id, "copy": path.name,
            "digest": loaded.digest})
        return loaded

    def _load_copy(self, path: Path, version: str, alias: str | None, source: str) -> LoadedModel:
        """Verify the copy's digest, load it into memory, check again (it may have changed while
        being read), then self-check and optimise the predictor."""
        try:
            info = verify_copy(path)
            predictor = _load_predictor(path)
            if verify_copy(path)["digest"] != info["digest"]:
                raise CopyDamaged(f"{path} changed while it was being loaded")
        except CopyDamaged as exc:
            raise ModelLoadError(f"{self.name} version {version}: {exc}") from exc
        except ModelLoadError:
            raise
        except Exception as exc:
            raise ModelLoadError(f"{self.name} version {version} failed to load: {exc}") from exc
        run_id, model_id = _mlmodel_ids(path)
        self._prepare(predictor, f"{self.name} version {version}")
        return LoadedModel(predictor, self.name, version, alias, run_id, source, model_id=model_id,
                           digest=info["digest"])

    def _prepare(self, predictor: Any, what: str) -> Any:
        """Optimise for serving, then self-check the model as it will serve."""
        from stance_model.predictor import SelfCheckFailed

        applied = predictor.optimize_for_inference(int8=self.int8)
        try:
            predictor.meta["self_check"] = predictor.self_check()
        except SelfCheckFailed as exc:
            raise ModelLoadError(f"{what} failed its self-check: {exc}") from exc
        log.info("inference optimisations: %s", ", ".join(applied) or "none")
        return predictor

    def _load_cached(self, cause: Exception) -> LoadedModel:
        record = read_manifest(self._manifest_path())
        if record is None:
            raise ModelLoadError(f"registry unavailable for {self.model_uri} ({cause}) and no local copy made for "
                                 f"this URI from this registry in {self.cache_dir}") from cause
        path = self.cache_dir / self.name / record["copy"]
        log.warning("registry unavailable (%s); serving the local copy of %s version %s",
                    type(cause).__name__, self.name, record["version"])
        try:
            return self._load_copy(path, str(record["version"]), record.get("alias"), "cache")
        except ModelLoadError as exc:
            raise ModelLoadError(f"registry unavailable for {self.model_uri} ({cause}) and the local copy "
                                 f"cannot be served: {exc}") from exc
