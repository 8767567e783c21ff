"""The Spark engine: the same chunks, rows and files as the local engine, with each chunk's articles
partitioned over Spark executors (``mapInPandas``) that score them with the model runtime.

The driver reads and checks the input (so line numbers and rejects are the local engine's),
skips what the output already holds, and writes the part files; each executor's Python worker
loads the registered model once, the way the service does (``serving.model.ModelStore``: the
registry, a verified local copy), refuses a copy whose digest differs from the driver's, and runs
``scoring.local.LocalScorer`` on its partition. Rows travel back as JSON and are put in input
order, so the files equal the local engine's.

On one machine ``--master local[N]``; on a cluster, submit the module with ``spark-submit --master
spark://HOST:7077 scoring/__main__.py score ... --engine spark``: every executor then needs this
package, the tracking server (``MLFLOW_TRACKING_URI``) and a writable ``STANCE_CACHE_DIR``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from typing import Any

from scoring.inputs import Article, Rejected

FIELDS = ("line", "id", "text", "title", "published", "source")
_WORKER: dict[str, Any] = {}  # per Python worker: the model loaded for one (URI, digest)


def _worker_model(conf: dict[str, Any]) -> Any:
    key = (conf["model_uri"], conf["digest"])
    if _WORKER.get("key") != key:
        from serving.model import ModelStore
        from stance_model.offline import force_offline

        force_offline()
        model = ModelStore(conf["model_uri"], conf["tracking_uri"], conf["cache_dir"], int8=conf["int8"]).load()
        if model.digest != conf["digest"]:
            raise RuntimeError(f"the executor loaded {model.name} version {model.version} with digest "
                               f"{str(model.digest)[:16]}, not the driver's {conf['digest'][:16]}: the alias moved "
                               "during the run; start it again")
        _WORKER.update(key=key, model=model)
    return _WORKER["model"]


def _partition_scorer(conf: dict[str, Any]):
    def score(frames: Iterator[Any]) -> Iterator[Any]:
        import pandas as pd

        from scoring.local import LocalScorer, model_columns

        model = _worker_model(conf)
        scorer = LocalScorer(model.predictor, model_columns(model), conf["targets"], conf["evidence_sentences"],
                             conf["max_passages"])
        for frame in frames:
            articles = [Article(int(row["line"]), row["id"], row["text"],
                                *(None if pd.isna(row[f]) else row[f] for f in ("title", "published", "source")))
                        for row in frame.to_dict("records")]
            passages, rows, rejected = scorer(articles)
            out = ([("passage", json.dumps(p)) for p in passages] + [("article", json.dumps(a)) for a in rows]
                   + [("rejected", json.dumps({"line": r.line, "id": r.id, "reason": r.reason})) for r in rejected])
            yield pd.DataFrame(out, columns=["kind", "payload"])
    return score


class SparkScorer:
    """Scores a chunk of articles on Spark executors: (passage rows, article rows, rejected)."""

    def __init__(self, model: Any, model_uri: str, tracking_uri: str | None, cache_dir: str, int8: bool,
                 targets: list[str] | None, evidence_sentences: bool, max_passages: int,
                 master: str | None = None, partitions: int | None = None) -> None:
        from pyspark.sql import SparkSession

        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = SparkSession.builder.appName("stance-framing scoring")
        if master:
            builder = builder.master(master)
        self.spark = builder.config("spark.ui.enabled", "false").getOrCreate()
        self.partitions = partitions or self.spark.sparkContext.defaultParallelism
        self.conf = {"model_uri": model_uri, "tracking_uri": tracking_uri, "cache_dir": cache_dir, "int8": int8,
                     "digest": model.digest, "targets": targets, "evidence_sentences": evidence_sentences,
                     "max_passages": max_passages}

    def __call__(self, articles: list[Article]) -> tuple[list[dict], list[dict], list[Rejected]]:
        import pandas as pd

        frame = pd.DataFrame([{f: getattr(a, f) for f in FIELDS} for a in articles], columns=list(FIELDS))
        df = self.spark.createDataFrame(frame, schema="line long, id string, text string, title string, "
                                                      "published string, source string")
        df = df.repartition(min(self.partitions, len(articles)))
        got = df.mapInPandas(_partition_scorer(self.conf), schema="kind string, payload string")
        passages, rows, rejected = [], [], []
        for r in got.toLocalIterator():
            payload = json.loads(r["payload"])
            if r["kind"] == "passage":
                passages.append(payload)
            elif r["kind"] == "article":
                rows.append(payload)
            else:
                rejected.append(Rejected(payload["line"], payload["id"], payload["reason"]))
        order = {a.id: a.line for a in articles}
        rows.sort(key=lambda a: order[a["article_id"]])
        passages.sort(key=lambda p: (order[p["article_id"]], p["passage_index"]))
        return passages, rows, rejected

    def stop(self) -> None:
        self.spark.stop()
