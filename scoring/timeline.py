"""How framing moved over time: per period, the share of articles and of passages carrying each
frame and the stance distribution per target, with counts, from a scored folder.

An article carries a frame when any of its passages does. A passage's period is its article's
``published`` date; articles without one are counted apart (``undated``) and left out of the
periods. Periods are ISO weeks (starting Monday), days or calendar months.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

PERIODS = {"day": "D", "week": "W-SUN", "month": "M"}
STANCE_LABELS = ("favor", "against", "mixed", "neutral", "not addressed")


class TimelineError(ValueError):
    """The scored folder cannot be read or holds nothing to count."""


def _read(folder: Path, sub: str, columns: list[str] | None = None) -> pd.DataFrame:
    path = folder / sub
    if not path.is_dir():
        raise TimelineError(f"{folder} is not a scored folder (no {sub}/): run python -m scoring score first")
    parquet = sorted(path.glob("part-*.parquet"))
    jsonl = sorted(path.glob("part-*.jsonl"))
    if parquet:
        return pd.read_parquet(parquet, columns=columns)
    if jsonl:
        frame = pd.concat([pd.read_json(p, lines=True, dtype={"article_id": str}) for p in jsonl], ignore_index=True)
        return frame[columns] if columns else frame
    raise TimelineError(f"{path} holds no part files")


def timeline(folder: Path, by: str = "week", split_by_source: bool = False) -> tuple[pd.DataFrame, dict[str, int]]:
    """The timeline table (one row per period, and per source when split) and counts of what was read."""
    if by not in PERIODS:
        raise TimelineError(f"unknown period {by!r}: {', '.join(PERIODS)}")
    articles = _read(folder, "articles")
    frames = sorted(c.removeprefix("frame.").removesuffix(".share") for c in articles if c.endswith(".share"))
    targets = sorted(c.removeprefix("stance.").removesuffix(".label") for c in articles
                     if c.startswith("stance.") and c.endswith(".label"))
    passages = _read(folder, "passages", ["article_id", *[f"frame.{f}.label" for f in frames]])
    dated = articles[articles["published"].notna()].copy()
    counts = {"articles": len(articles), "undated": len(articles) - len(dated), "passages": len(passages)}
    if dated.empty:
        raise TimelineError(f"none of the {len(articles)} articles has a 'published' date")
    dated["period"] = pd.to_datetime(dated["published"]).dt.to_period(PERIODS[by]).dt.start_time.dt.date
    keys = ["period", "source"] if split_by_source else ["period"]
    if split_by_source:
        dated["source"] = dated["source"].fillna("(no source)")
    carried = passages.groupby("article_id")[[f"frame.{f}.label" for f in frames]].any()
    dated = dated.join(carried, on="article_id")
    per_passage = passages.merge(dated[["article_id", *keys]], on="article_id")

    dated[[f"frame.{f}.label" for f in frames]] = dated[[f"frame.{f}.label" for f in frames]].fillna(False)
    by_key, passages_by_key = dated.groupby(keys, sort=True), per_passage.groupby(keys, sort=True)
    table = by_key.size().rename("articles").to_frame()
    table["passages"] = passages_by_key.size()
    for f in frames:
        col = f"frame.{f}.label"
        table[f"frame.{f}.articles"] = by_key[col].sum().astype(int)
        table[f"frame.{f}.article_share"] = table[f"frame.{f}.articles"] / table["articles"]
        table[f"frame.{f}.passage_share"] = passages_by_key[col].mean()
    for t in targets:
        labels = by_key[f"stance.{t}.label"].value_counts().unstack(fill_value=0)
        for lab in STANCE_LABELS:
            table[f"stance.{t}.{lab}"] = labels[lab].astype(int) if lab in labels else 0
            table[f"stance.{t}.{lab}.share"] = table[f"stance.{t}.{lab}"] / table["articles"]
    table["passages"] = table["passages"].fillna(0).astype(int)
    return table.reset_index(), counts


def chart(table: pd.DataFrame, path: Path, by: str) -> None:
    """Frame shares of articles per period (one line per frame), and per target the stance
    distribution of articles (stacked shares)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames = [c.removeprefix("frame.").removesuffix(".article_share") for c in table if c.endswith(".article_share")]
    targets = sorted({c.split(".")[1] for c in table if c.startswith("stance.") and c.endswith(".share")})
    if "source" in table:  # the chart shows all sources together: shares from the summed counts
        table = table.drop(columns=["source"]).groupby("period").sum(numeric_only=True).reset_index()
        for f in frames:
            table[f"frame.{f}.article_share"] = table[f"frame.{f}.articles"] / table["articles"]
        for t in targets:
            for lab in STANCE_LABELS:
                table[f"stance.{t}.{lab}.share"] = table[f"stance.{t}.{lab}"] / table["articles"]
    fig, axes = plt.subplots(1 + len(targets), 1, figsize=(10, 3.2 * (1 + len(targets))), sharex=True)
    x = pd.to_datetime(table["period"])
    for f in frames:
        axes[0].plot(x, table[f"frame.{f}.article_share"], marker="o", label=f)
    axes[0].set_ylabel("share of articles")
    axes[0].set_title(f"Frames per {by} ({int(table['articles'].sum())} dated articles)")
    axes[0].legend(loc="upper left", fontsize=8)
    for ax, t in zip(axes[1:], targets, strict=True):
        bottom = pd.Series(0.0, index=table.index)
        for lab in STANCE_LABELS:
            share = table[f"stance.{t}.{lab}.share"]
            ax.bar(x, share, bottom=bottom, width=5 if by == "week" else 0.8 if by == "day" else 20, label=lab)
            bottom += share
        ax.set_ylabel("share of articles")
        ax.set_title(f"Stance on {t}")
        ax.legend(loc="upper left", fontsize=8, ncol=5)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
