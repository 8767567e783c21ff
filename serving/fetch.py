"""``python -m serving.fetch``: resolve a registry URI and make sure a verified copy of that version is local.

Run by the service in a child process, so that the serving process itself never imports MLflow
and its database drivers (about 85 MB of resident memory that would otherwise sit there for the
life of the process). Prints one JSON object ``{"version", "run_id", "path", "digest"}``.

Exit codes (the service falls back to its local copy only on ``REGISTRY_UNAVAILABLE``):
0 done; 3 the registry could not be reached; 4 the version exists but its artifacts are missing or
hold no MLflow model; 5 the registry answered that the model, version or alias does not exist (or
refused the request), or the sqlite store named does not exist.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from serving.copies import CopyDamaged, copy_dir, redact_uri, registry_identity, verify_copy, write_copy_info

REGISTRY_UNAVAILABLE, NOT_A_MODEL, NOT_FOUND = 3, 4, 5

REFUSALS = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND", "PERMISSION_DENIED",
            "UNAUTHENTICATED", "BAD_REQUEST"}
"""MLflow error codes by which a reachable registry says no: the answer stands, no fallback."""

_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[\w-]+)|/(?P<version>\d+))$")


def parse_model_uri(uri: str) -> tuple[str, str | None, str | None]:
    """(name, alias, version) of ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``; ``ValueError`` otherwise."""
    m = _URI.match(uri)
    if not m:
        raise ValueError(f"model URI {uri!r} must be models:/NAME@ALIAS or models:/NAME/VERSION")
    return m["name"], m["alias"], m["version"]


class NotAModel(RuntimeError):
    pass


class NotFound(RuntimeError):
    pass


def resolve(client: Any, name: str, alias: str | None, version: str | None) -> Any:
    """The model version the URI points at now."""
    return client.get_model_version_by_alias(name, alias) if alias else client.get_model_version(name, version)


def ensure_copy(client: Any, mv: Any, uri: str, cache_dir: Path) -> tuple[Path, dict[str, Any]]:
    """A verified local copy of model version ``mv``: reused if its digest holds, downloaded afresh
    (atomically: a half download is never used) if missing or damaged."""
    import mlflow

    registry = registry_identity(uri)
    identity = {"registry": registry, "name": mv.name, "version": str(mv.version), "run_id": mv.run_id,
                "source": mv.source}
    dest = copy_dir(cache_dir, registry, mv.name, str(mv.version), mv.run_id, mv.source)
    if dest.exists():
        try:
            return dest, verify_copy(dest)
        except CopyDamaged as exc:
            print(f"re-downloading: {exc}", file=sys.stderr)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        source = client.get_model_version_download_uri(mv.name, str(mv.version))  # the URI is passed, never set globally
        try:
            got = Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(tmp), tracking_uri=uri))
        except Exception as exc:
            if _refusal(exc) or isinstance(exc, OSError):
                raise NotAModel(f"models:/{mv.name}/{mv.version}: its artifacts could not be downloaded "
                                f"({_one_line(exc)})") from exc
            raise
        if not (got / "MLmodel").is_file():
            raise NotAModel(f"models:/{mv.name}/{mv.version} has no MLmodel file")
        info = write_copy_info(got, {**identity, "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        if dest.exists():
            shutil.rmtree(dest)
        got.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest, info


def check_store_exists(uri: str) -> None:
    """An embedded sqlite store that does not exist is a mistyped URI, not an empty registry:
    opening it would create it."""
    if urlsplit(uri).scheme == "sqlite" and ":///" in uri:
        path = uri.split(":///", 1)[1]
        if path not in ("", ":memory:") and not Path(path).is_file():
            raise NotFound(f"no MLflow store at {os.path.abspath(path)} (tracking URI {redact_uri(uri)}); "
                           "check STANCE_TRACKING_URI")


def _refusal(exc: BaseException) -> bool:
    return getattr(exc, "error_code", None) in REFUSALS


def _one_line(exc: BaseException) -> str:
    return redact_uri(f"{type(exc).__name__}: {exc}".splitlines()[0])[:500]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.fetch")
    parser.add_argument("--model-uri", required=True)
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--cache-dir", required=True, type=Path)
    args = parser.parse_args(argv)
    import logging

    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    logging.disable(logging.WARNING)
    name, alias, version = parse_model_uri(args.model_uri)
    try:
        check_store_exists(args.tracking_uri)
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=args.tracking_uri, registry_uri=args.tracking_uri)
        try:
            mv = resolve(client, name, alias, version)
        except Exception as exc:
            if _refusal(exc):
                raise NotFound(f"the registry has no {args.model_uri}: {_one_line(exc)}") from exc
            raise
        path, info = ensure_copy(client, mv, args.tracking_uri, args.cache_dir)
    except NotFound as exc:
        print(str(exc), file=sys.stderr)
        return NOT_FOUND
    except NotAModel as exc:
        print(str(exc), file=sys.stderr)
        return NOT_A_MODEL
    except Exception as exc:  # noqa: BLE001 - an unreachable registry shows up as many types
        print(_one_line(exc), file=sys.stderr)
        return REGISTRY_UNAVAILABLE
    print(json.dumps({"version": str(mv.version), "run_id": mv.run_id, "path": str(path), "digest": info["digest"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
