"""``python -m serving.fetch``: resolve a registry URI and copy that version into the local cache.

Run by the service in a child process, so that the serving process itself never imports MLflow
and its database drivers (about 85 MB of resident memory that would otherwise sit there for the
life of the process). Prints one JSON object ``{"version", "run_id", "path"}``. Exit codes:
0 done; 3 the registry could not be reached or does not know the URI (the service may fall back
to its local copy); 4 the version exists but holds no MLflow model (never falls back).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

REGISTRY_UNAVAILABLE, NOT_A_MODEL = 3, 4


class NotAModel(RuntimeError):
    pass


def resolve(client: Any, name: str, alias: str | None, version: str | None) -> tuple[str, str | None]:
    """(version, run_id) the URI points at now."""
    mv = client.get_model_version_by_alias(name, alias) if alias else client.get_model_version(name, version)
    return str(mv.version), mv.run_id


def download(client: Any, name: str, version: str, uri: str, cache_dir: Path) -> Path:
    """Copy ``version`` into ``cache_dir/name/v<version>`` atomically (a half download is never used)."""
    import mlflow

    dest = cache_dir / name / f"v{version}"
    if (dest / "MLmodel").is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".v{version}-", dir=dest.parent))
    try:
        source = client.get_model_version_download_uri(name, version)  # the URI is passed, never set globally
        got = Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(tmp), tracking_uri=uri))
        if not (got / "MLmodel").is_file():
            raise NotAModel(f"models:/{name}/{version} has no MLmodel file")
        if dest.exists():
            shutil.rmtree(dest)
        got.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.fetch")
    parser.add_argument("--model-uri", required=True)
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--cache-dir", required=True, type=Path)
    args = parser.parse_args(argv)
    import logging
    import os

    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    logging.disable(logging.WARNING)
    from serving.model import parse_model_uri

    name, alias, version = parse_model_uri(args.model_uri)
    try:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=args.tracking_uri, registry_uri=args.tracking_uri)
        version, run_id = resolve(client, name, alias, version)
        path = download(client, name, version, args.tracking_uri, args.cache_dir)
    except NotAModel as exc:
        print(str(exc), file=sys.stderr)
        return NOT_A_MODEL
    except Exception as exc:  # noqa: BLE001 - an unreachable or unknowing registry shows up as many types
        print(f"{type(exc).__name__}: {exc}".splitlines()[0][:500], file=sys.stderr)
        return REGISTRY_UNAVAILABLE
    print(json.dumps({"version": version, "run_id": run_id, "path": str(path)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
