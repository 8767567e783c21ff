"""``python -m serving [--host H] [--port P]``: serve the champion model over HTTP."""

from __future__ import annotations

import argparse
import json
import logging
import sys


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if msg.startswith("{") and not record.exc_info:
            return msg
        out = {"level": record.levelname, "logger": record.name, "message": msg}
        if record.exc_info:
            out["traceback"] = self.formatException(record.exc_info)
        return json.dumps(out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m serving")
    parser.add_argument("--host", help="bind address (default STANCE_HOST, else 127.0.0.1: loopback only)")
    parser.add_argument("--port", type=int, help="port (default STANCE_PORT, else 8000)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from serving.service import limit_malloc_arenas

    limit_malloc_arenas()  # before uvicorn or torch start any thread
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    for noisy in ("mlflow", "alembic", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    import uvicorn

    from serving.app import create_app
    from serving.config import get_settings
    from serving.server import server_config
    from stance_model.offline import force_offline

    force_offline()
    settings = get_settings()
    updates = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if updates:
        settings = settings.model_copy(update=updates)
    app = create_app(settings)
    uvicorn.Server(server_config(app, settings, settings.host, settings.port, timeout_graceful_shutdown=10)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
