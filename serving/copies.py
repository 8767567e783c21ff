"""The service's local model copies: where each one lives, what it must contain, and which one a URI may fall back to.

A copy is keyed by what identifies a model version, never by its number alone (numbers restart
in every new store): the registry it came from, the model name and version, the version's run id
and its artifact source. Each copy carries ``COPY_INFO``, written before the copy is moved into
place, with that identity and a SHA-256 digest of every file; a copy whose files no longer match
the digest is never loaded. A manifest per (registry, model URI) names the copy last served for
that URI: the only copy that URI may fall back to when the registry cannot be reached.

No MLflow import here: the serving process uses this module, and MLflow stays in ``serving.fetch``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

COPY_INFO = ".stance-copy.json"
_SECRET_QUERY = re.compile(r"(?i)([?&](?:token|key|secret|password|passwd|pwd|signature|sig|access_token|"
                           r"api_key|apikey|x-amz-[a-z-]+)=)[^&#]*")


class CopyDamaged(RuntimeError):
    """A local copy is missing files, has no digest, or its files do not match the digest."""


_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")


def redact_uri(text: str) -> str:
    """``text`` (a URI, or a message that contains URIs) with user-info and secret-looking query
    values replaced by ``***``."""
    return _SECRET_QUERY.sub(r"\1***", _USERINFO.sub(r"\1***@", text))


def registry_identity(tracking_uri: str) -> str:
    """A stable name for the registry behind ``tracking_uri``: a sqlite or file store by its absolute
    path (so ``sqlite:///mlflow.db`` from two folders are two registries), a server by scheme, host,
    port and path, without credentials."""
    parts = urlsplit(tracking_uri)
    if parts.scheme == "sqlite":
        path = tracking_uri.split(":///", 1)[1] if ":///" in tracking_uri else parts.path
        return "sqlite:" + os.path.realpath(path)
    if parts.scheme in ("", "file"):
        return "file:" + os.path.realpath(parts.path or tracking_uri)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path.rstrip('/')}"


def _short_hash(*parts: Any) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:16]


def copy_dir(cache_dir: Path, registry: str, name: str, version: str, run_id: str | None, source: str | None) -> Path:
    """Folder of the copy of one model version of one registry."""
    return Path(cache_dir) / name / f"v{version}-{_short_hash(registry, name, version, run_id, source)}"


def manifest_path(cache_dir: Path, registry: str, name: str, model_uri: str) -> Path:
    """The manifest of the copy last served for ``model_uri`` (of model ``name``) in ``registry``."""
    return Path(cache_dir) / name / "manifests" / f"{_short_hash(registry, model_uri)}.json"


def tree_digest(folder: Path) -> str:
    """SHA-256 over every file under ``folder`` (relative path and content), ``COPY_INFO`` excluded."""
    folder = Path(folder)
    outer = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != COPY_INFO):
        inner = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                inner.update(block)
        outer.update(f"{path.relative_to(folder).as_posix()}\0{inner.hexdigest()}\n".encode())
    return outer.hexdigest()


def write_copy_info(folder: Path, identity: dict[str, Any]) -> dict[str, Any]:
    """Record ``identity`` and the digest of ``folder``'s files inside it; return what was written."""
    info = {**identity, "digest": tree_digest(folder)}
    _atomic_json(Path(folder) / COPY_INFO, info)
    return info


def verify_copy(folder: Path) -> dict[str, Any]:
    """The copy's recorded identity and digest, after checking every file against the digest."""
    folder = Path(folder)
    try:
        info = json.loads((folder / COPY_INFO).read_text())
        recorded = info["digest"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CopyDamaged(f"{folder} has no readable {COPY_INFO} ({type(exc).__name__}): not a verified copy") from exc
    try:
        actual = tree_digest(folder)
    except OSError as exc:
        raise CopyDamaged(f"{folder} could not be read: {exc}") from exc
    if actual != recorded:
        raise CopyDamaged(f"{folder} does not match its digest (recorded {recorded[:12]}, found {actual[:12]}): "
                          "the files were changed or damaged after download")
    return info


def read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def write_manifest(path: Path, record: dict[str, Any]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    _atomic_json(Path(path), record)


def _atomic_json(path: Path, obj: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True))
    tmp.replace(path)
