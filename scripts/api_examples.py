"""Regenerate the examples shown in /docs and /redoc (``serving/examples.json``) from a served model.

    MLFLOW_TRACKING_URI=sqlite:///$PWD/mlflow.db .venv/bin/python scripts/api_examples.py

Every example is a real answer: the request bodies below are sent to the app over the registered
champion (``STANCE_MODEL_URI`` to choose another) and the answers are written as they come back,
with the model's name, version and run id in them.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "serving" / "examples.json"

TEXTS = [
    ("Without a written promise of allied defence, any ceasefire only gives Moscow time to rearm, the foreign "
     "minister argued."),
    "Officials in Berlin said the talks on Tuesday covered grain exports and prisoner exchanges.",
]
CORRECTION = {"text": ("Leave Ukraine outside the alliance, the senator warned, and the next ceasefire will only buy "
                       "Moscow time to regroup."),
              "title": None, "date": "2025-03-04", "correction": {"stance": {"territorial_concession": "neutral"}},
              "note": "Says nothing about giving up land"}
ARTICLE = json.loads((ROOT / "experiments" / "articles" / "seed_membership.json").read_text(encoding="utf-8"))


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from fastapi.testclient import TestClient

    from serving.app import create_app
    from serving.config import Settings

    with tempfile.TemporaryDirectory() as cache:
        token = "example-admin-token-0123456789"
        settings = Settings(cache_dir=Path(cache), admin_token=token, annotation_token=token,
                            corrections_path=Path(cache) / "corrections.jsonl")
        invocation = {"dataframe_split": {"columns": ["text"], "data": [[TEXTS[0]]]}}
        with TestClient(create_app(settings), raise_server_exceptions=True) as client:
            def answer(method: str, path: str, body: dict | None = None, **kwargs) -> dict:
                r = client.request(method, path, json=body, **kwargs)
                r.raise_for_status()
                return r.json()

            examples = {
                "classify": {"request": {"texts": TEXTS}, "response": answer("POST", "/v1/classify", {"texts": TEXTS})},
                "articles": {"request": ARTICLE, "response": answer("POST", "/v1/articles", ARTICLE)},
                "invocations": {"request": invocation, "response": answer("POST", "/invocations", invocation)},
                "model": {"response": answer("GET", "/v1/model")},
                "labels": {"response": answer("GET", "/v1/labels")},
                "readyz": {"response": answer("GET", "/readyz")},
                "healthz": {"response": answer("GET", "/healthz")},
            }
            examples["corrections"] = {"request": CORRECTION, "response": answer(
                "POST", "/v1/corrections", CORRECTION, headers={"Authorization": f"Bearer {token}"})}
            examples["corrections_status"] = {"response": answer("GET", "/v1/corrections")}
            metrics = client.get("/metrics").text.splitlines()
            examples["metrics"] = {"response": "\n".join(line for line in metrics
                                                         if line.startswith(("# HELP http_requests", "# TYPE http_requests",
                                                                             "http_requests_total")))}
            examples["reload"] = {"response": answer("POST", "/admin/reload",
                                                     headers={"Authorization": f"Bearer {token}"})}
    OUT.write_text(json.dumps(examples, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    ref = examples["classify"]["response"]["model"]
    print(f"wrote {OUT.relative_to(ROOT)} from {ref['name']} version {ref['version']} (run {ref['run_id']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
