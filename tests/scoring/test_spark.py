"""The Spark engine on local[2] writes the same rows as the local engine."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

pytest.importorskip("pyspark")
pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java (17) on the PATH")

TEXT = ("Envoys met again on Monday to weigh a freeze of the front line.\n"
        "Kyiv said it would cede no land. Moscow warned that new missiles would widen the war.\n"
        "Allied ministers discussed a guarantee that would hold after any ceasefire, officials said.")


def test_spark_rows_equal_local_rows(registered_store, tmp_path):
    src = tmp_path / "in.jsonl"
    records = [{"id": f"a{i}", "title": f"Talks, day {i}", "text": TEXT.replace("Monday", f"day {i}"),
                "published": f"2024-05-{i + 1:02d}", "source": "wire"} for i in range(6)]
    records.insert(3, {"id": "no-text"})
    src.write_text("".join(json.dumps(r) + "\n" for r in records))
    env = {**os.environ, "STANCE_MODEL_URI": f"models:/{registered_store['name']}@champion",
           "MLFLOW_TRACKING_URI": registered_store["uri"], "STANCE_CACHE_DIR": str(tmp_path / "cache")}
    for engine in ("local", "spark"):
        extra = ["--engine", "spark", "--master", "local[2]", "--chunk", "4"] if engine == "spark" else ["--chunk", "4"]
        got = subprocess.run([sys.executable, "-m", "scoring", "score", str(src), "--out", str(tmp_path / engine),
                              "--quiet", *extra], env=env, capture_output=True, text=True, timeout=600, check=False)
        assert got.returncode == 0, got.stderr[-3000:]
    for sub in ("passages", "articles"):
        local = pq.read_table(tmp_path / "local" / sub).to_pylist()
        spark = pq.read_table(tmp_path / "spark" / sub).to_pylist()
        assert len(local) == len(spark) > 0
        assert local == spark
    assert (tmp_path / "local" / "rejects.jsonl").read_text() == (tmp_path / "spark" / "rejects.jsonl").read_text()
    summary = json.loads((tmp_path / "spark" / "summary.json").read_text())
    assert (summary["read"], summary["scored"], summary["rejected"]) == (7, 6, 1)
