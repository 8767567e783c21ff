"""The embedded MLflow store's artifact paths, kept in the store's own folder when the checkout is copied."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import urlparse

_LOCATION_COLUMNS = (("experiments", "artifact_location"), ("runs", "artifact_uri"),
                     ("logged_models", "artifact_location"), ("model_versions", "storage_location"))
"""Where an MLflow 3 sqlite store records artifact paths."""


def sqlite_db(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` tracking URI, or ``None`` for any other store."""
    return Path(uri[len("sqlite:///"):]) if urlparse(uri).scheme == "sqlite" else None


def artifact_dir(db: Path) -> Path:
    """Where a store created here keeps its artifacts: ``mlruns/`` beside the database file."""
    return db.resolve().parent / "mlruns"


def relocate_store(db: Path) -> tuple[str, str, int] | None:
    """Make a copied embedded store write and read its artifacts in its own ``mlruns/``.

    MLflow records absolute artifact paths. A store created here keeps artifacts in ``mlruns/``
    beside the database; in a copy of the checkout those paths still name the original's folder,
    so new runs would write into it. When every experiment's artifacts sit in one other folder's
    ``mlruns/`` and this store has its own ``mlruns/``, the recorded paths are rewritten to it.
    Returns (old root, new root, rows changed), or ``None`` when nothing needed to change.
    """
    if not db.is_file() or not artifact_dir(db).is_dir():
        return None
    new_root = str(artifact_dir(db))
    con = sqlite3.connect(db, timeout=30)
    try:
        try:
            # not MLflow's "Default" experiment: MLflow lays it out under the working directory of the
            # process that created the store, wherever that was
            locations = [r[0] for r in con.execute("SELECT artifact_location FROM experiments WHERE experiment_id != 0")]
        except sqlite3.DatabaseError:
            return None  # not an MLflow store (yet): MLflow reports it when it opens it
        roots = set()
        for loc in locations:
            path = loc.removeprefix("file://") + "/"
            if "/mlruns/" not in path:
                return None  # a location this project did not lay out: leave the store alone
            roots.add(path[:path.rindex("/mlruns/") + len("/mlruns")])
        if len(roots) != 1 or new_root in roots or not next(iter(roots)).startswith("/"):  # none, mixed, or home
            return None
        old_root = roots.pop()
        changed = 0
        with con:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            for table, column in _LOCATION_COLUMNS:
                if table not in tables:
                    continue
                # "<old>/mlruns/..." and "<old>/mlruns" alone (an experiment laid out by this project)
                changed += con.execute(
                    f"UPDATE {table} SET {column} = replace({column}, ?, ?) WHERE {column} LIKE ?",
                    (old_root + "/", new_root + "/", f"%{old_root}/%")).rowcount
                changed += con.execute(
                    f"UPDATE {table} SET {column} = substr({column}, 1, length({column}) - ?) || ? "
                    f"WHERE {column} = ? OR {column} = ?",
                    (len(old_root), new_root, old_root, "file://" + old_root)).rowcount
        return old_root, new_root, changed
    finally:
        con.close()
