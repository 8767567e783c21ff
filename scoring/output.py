"""The output folder of a scoring run: part files written whole, the rejects, the summary, resuming.

    OUT/passages/part-00001.parquet   one row per passage
    OUT/articles/part-00001.parquet   one row per article (written after its passages' part)
    OUT/rejects.jsonl                 one line per rejected record: input line, id, reason
    OUT/summary.json                  read = already scored + scored + rejected

A part is written to a temporary name and renamed, so a part file is always whole. A run that
stops between a passages part and its articles part leaves a passages part without its twin; the
next run removes it and scores those articles again. An article counts as done when an articles
part holds its id with the same model digest; an output folder holding another model's rows is
refused.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

PART = re.compile(r"part-(\d{5})\.(parquet|jsonl)$")


class OutputError(RuntimeError):
    """The output folder cannot be used (another model's results, unwritable)."""


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


class OutputDir:
    def __init__(self, root: Path, fmt: str, digest: str) -> None:
        if fmt not in ("parquet", "jsonl"):
            raise OutputError(f"unknown output format {fmt!r}: parquet or jsonl")
        self.root, self.fmt, self.digest = Path(root), fmt, digest
        try:
            for sub in ("passages", "articles"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the output folder {self.root}: {exc}") from exc
        self.done, self.rejected_lines, self.next_part = self._resume()

    def _parts(self, sub: str) -> dict[int, Path]:
        return {int(m[1]): p for p in (self.root / sub).iterdir() if (m := PART.search(p.name))}

    def _ids(self, path: Path) -> list[tuple[str, str]]:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path, columns=["article_id", "model_digest"]).to_pydict()
            return list(zip(table["article_id"], table["model_digest"], strict=True))
        with path.open(encoding="utf-8") as f:
            return [(r["article_id"], r["model_digest"]) for r in map(json.loads, f)]

    def _resume(self) -> tuple[set[str], set[int], int]:
        articles, passages = self._parts("articles"), self._parts("passages")
        for index in set(passages) - set(articles):  # passages written, articles not: score them again
            passages[index].unlink()
        for tmp in list(self.root.glob("*/.part-*.tmp")):
            tmp.unlink()
        done: set[str] = set()
        for path in articles.values():
            for article_id, digest in self._ids(path):
                if digest != self.digest:
                    raise OutputError(f"{self.root} holds results of model digest {digest[:16]}, not of this model "
                                      f"({self.digest[:16]}): write to a new output folder")
                done.add(article_id)
        rejected = set()
        if (self.root / "rejects.jsonl").is_file():
            with (self.root / "rejects.jsonl").open(encoding="utf-8") as f:
                rejected = {json.loads(line)["line"] for line in f if line.strip()}
        return done, rejected, max(articles, default=0) + 1

    def _write_rows(self, path: Path, rows: list[dict[str, Any]]) -> None:
        if self.fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            _write_atomic(path, lambda tmp: pq.write_table(pa.Table.from_pylist(rows), tmp))
        else:
            _write_atomic(path, lambda tmp: tmp.write_text(
                "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"))

    def write_part(self, passages: list[dict[str, Any]], articles: list[dict[str, Any]]) -> None:
        """One chunk: its passages part, then its articles part (which marks the articles done)."""
        if not articles:
            return
        name = f"part-{self.next_part:05d}.{self.fmt}"
        try:
            self._write_rows(self.root / "passages" / name, passages)
            self._write_rows(self.root / "articles" / name, articles)
        except OSError as exc:
            raise OutputError(f"cannot write {name} under {self.root}: {exc}; the parts written before it "
                              "are whole, and a rerun resumes after them") from exc
        self.next_part += 1
        self.done.update(a["article_id"] for a in articles)

    def reject(self, rows: list[dict[str, Any]]) -> None:
        """Append rejected records (``line``, ``id``, ``reason``), each line once across reruns."""
        new = [r for r in rows if r["line"] not in self.rejected_lines]
        if not new:
            return
        with (self.root / "rejects.jsonl").open("a", encoding="utf-8") as f:
            f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in new))
            f.flush()
            os.fsync(f.fileno())
        self.rejected_lines.update(r["line"] for r in new)

    def write_summary(self, summary: dict[str, Any]) -> None:
        _write_atomic(self.root / "summary.json",
                      lambda tmp: tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8"))
