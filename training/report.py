"""Leaderboard and charts read from MLflow runs (never from local files), logged to a report run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from labels.codebook import Codebook, load_codebook
from training import selection, tracking

# the parameters that distinguish runs of each family (others are defaults the family ignores)
KEY_PARAMS = {
    "finetune": ("model.tfidf_blend", "train.learning_rate", "train.layer_lr_decay", "train.epochs",
                 "model.freeze_layers", "train.interpolation_min", "model.max_length", "model.target_text",
                 "model.dropout", "train.class_weighting", "data.train_fraction"),
    "tfidf": ("model.logreg_c", "train.class_weighting", "data.train_fraction"),
    "embeddings": ("model.logreg_c", "train.class_weighting", "data.train_fraction"),
}


def fetch_runs(experiment: str, corpus_digest: str | None = None) -> list[Any]:
    """Finished training runs of ``experiment`` that carry test metrics (reports and sweep parents
    excluded); with ``corpus_digest``, only runs trained and tested on that corpus, since figures
    from different test splits are not comparable."""
    runs = tracking.finished_runs(experiment)
    return [r for r in runs if "test_frames_macro_f1" in r.data.metrics and r.data.tags.get("kind") != "report"
            and (corpus_digest is None or r.data.tags.get("corpus_digest") == corpus_digest)]


def champion_run_id(name: str = "stance-framing") -> str | None:
    """The run id behind the registered model's ``champion`` alias, or None."""
    v = tracking.version_by_alias(name, tracking.CHAMPION)
    return v.run_id if v is not None else None


def ranked(runs: list[Any], champion_run: str | None = None) -> list[tuple[Any, list[str]]]:
    """Runs best first by ``training.selection`` (the promotion rule) against the champion's run
    when it is among them, each with its gate failures."""
    ids = [r.info.run_id for r in runs]
    champion = ids.index(champion_run) if champion_run in ids else None
    return [(runs[i], failed) for i, failed in selection.rank([r.data.metrics for r in runs], champion)]


def _fmt(m: dict[str, float], key: str, interval: bool = False) -> str:
    if key not in m:
        return "-"
    if interval and f"{key}_ci_low" in m:
        return f"{m[key]:.3f} [{m[key + '_ci_low']:.2f}, {m[key + '_ci_high']:.2f}]"
    return f"{m[key]:.3f}"


def leaderboard(runs: list[Any], codebook: Codebook, champion_run: str | None = None) -> str:
    """Markdown table ranked by the promotion rule; validation, realdev (with its interval) and test."""
    targets = codebook.target_ids
    head = (["rank", "run", "family", "key params", "selection", "val frames / stance",
             "realdev frames", "realdev stance", "realdev F_avg", *[f"realdev F_avg {t}" for t in targets],
             "test frames / stance", "test F_avg", "train time (s)", "gate"])
    lines = ["| " + " | ".join(head) + " |", "|---:|---|---|---|" + "---:|" * (len(head) - 5) + "---|"]
    for n, (r, failed) in enumerate(ranked(runs, champion_run), start=1):
        m, p = r.data.metrics, r.data.params
        family = p.get("model.family", "?")
        params = ", ".join(f"{k.split('.')[1]}={p[k]}" for k in KEY_PARAMS.get(family, ())
                           if k in p and p[k] not in ("", "None"))
        name = r.info.run_name + (" (champion)" if r.info.run_id == champion_run else "")
        cells = [str(n), name, family, params, f"{selection.score(m):.3f}",
                 f"{_fmt(m, 'val_frames_macro_f1')} / {_fmt(m, 'val_stance_macro_f1')}",
                 _fmt(m, "realdev_frames_macro_f1", True), _fmt(m, "realdev_stance_macro_f1", True),
                 _fmt(m, "realdev_stance_favg", True), *[_fmt(m, f"realdev_stance_{t}_favg") for t in targets],
                 f"{_fmt(m, 'test_frames_macro_f1')} / {_fmt(m, 'test_stance_macro_f1')}", _fmt(m, "test_stance_favg"),
                 f"{m.get('train_wall_seconds', float('nan')):.0f}", "; ".join(failed) or "passes"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _stamp(fig: Any, corpus_digest: str | None) -> None:
    """Footer: which corpus, when, and the command that regenerates the chart."""
    corpus = f"corpus {corpus_digest[:16]}" if corpus_digest else "runs of every corpus"
    fig.text(0.99, 0.005, f"{corpus} · {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · "
                          "python -m training compare", ha="right", va="bottom", fontsize=7, color="0.4")


def per_label_chart(runs: list[Any], codebook: Codebook, path: Path, per_family: int = 3,
                    corpus_digest: str | None = None) -> None:
    """Grouped bars of per-label test F1 for the best ``per_family`` runs of each family (by validation)."""
    labels = [f"frame_{f}_f1" for f in codebook.frame_ids] + [f"stance_{t}_macro_f1" for t in codebook.target_ids]
    chosen: list[Any] = []
    for family in sorted({r.data.params.get("model.family", "?") for r in runs}):
        members = [r for r in runs if r.data.params.get("model.family", "?") == family]
        chosen += [r for r, _ in ranked(members)][:per_family]
    cmap = plt.get_cmap("tab10")
    fig, ax = plt.subplots(figsize=(12, 5.5))
    width = 0.8 / max(len(chosen), 1)
    for i, r in enumerate(chosen):
        vals = [r.data.metrics.get(f"test_{k}", 0.0) for k in labels]
        ax.bar([j + i * width for j in range(len(labels))], vals, width, color=cmap(i % 10),
               label=f"{r.info.run_name} ({r.data.params.get('model.family', '?')})")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(labels))],
                  [k.replace("_f1", "").replace("_macro", "") for k in labels], rotation=15, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("test F1 (stance: macro-F1)")
    ax.set_title(f"Per-label test F1 of {len(chosen)} run(s): up to {per_family} per family, the best by "
                 "validation score")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3)
    fig.tight_layout()
    _stamp(fig, corpus_digest)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def learning_curve_chart(runs: list[Any], path: Path, corpus_digest: str | None = None) -> bool:
    """Test macro-F1 against training fraction per family (runs of a learning-curve sweep)."""
    points: dict[str, list[tuple[float, float, float]]] = {}
    for r in runs:
        if not r.data.tags.get("sweep", "").startswith("learning_curve"):
            continue
        frac = float(r.data.params.get("data.train_fraction", 1.0))
        fam = r.data.params.get("model.family", "?")
        points.setdefault(fam, []).append((frac, r.data.metrics["test_frames_macro_f1"],
                                           r.data.metrics["test_stance_macro_f1"]))
    if not points:
        path.unlink(missing_ok=True)  # never leave a chart of other runs beside this report
        return False
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for fam, pts in sorted(points.items()):
        pts.sort()
        axes[0].plot([p[0] * 100 for p in pts], [p[1] for p in pts], marker="o", label=fam)
        axes[1].plot([p[0] * 100 for p in pts], [p[2] for p in pts], marker="o", label=fam)
    for ax, title in zip(axes, ("frames macro-F1 (test)", "stance macro-F1 (test)"), strict=True):
        ax.set_xlabel("% of training split")
        ax.set_title(title)
        ax.set_ylim(0, 1)
        ax.legend()
    fig.tight_layout()
    _stamp(fig, corpus_digest)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_report(experiment: str, out_dir: Path, log_run: bool = True, corpus_digest: str | None = None) -> Path:
    """Write leaderboard.md and charts into ``out_dir`` from MLflow runs and log them to a report run.

    Only runs on ``corpus_digest`` are compared (``None``: every run, whatever its corpus).
    """
    tracking.configure()
    codebook = load_codebook()
    runs = fetch_runs(experiment, corpus_digest)
    champion = champion_run_id()
    if not runs:
        raise ValueError(f"experiment {experiment!r} has no finished training runs to compare"
                         + (f" on corpus {corpus_digest[:12]}" if corpus_digest else ""))
    out_dir.mkdir(parents=True, exist_ok=True)
    per_label_chart(runs, codebook, out_dir / "per_label_f1.png", corpus_digest=corpus_digest)
    has_curve = learning_curve_chart(runs, out_dir / "learning_curves.png", corpus_digest)
    md = [f"# Leaderboard: experiment `{experiment}`", "",
          "<!-- generated by `python -m training compare`; do not edit by hand -->",
          f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} from {len(runs)} finished runs in "
          f"`{tracking.store_uri()}`"
          + (f" on corpus `{corpus_digest[:16]}`" if corpus_digest else " (all corpora)") + ". Runs are ranked "
          "by the promotion rule (`training/selection.py`): the selection score is the mean of validation and "
          "realdev frames and stance macro-F1, and a run ranks below every run that passes the gates if, against "
          f"the champion (the best-scoring run where no champion is registered), it loses more than "
          f"{selection.REALDEV_NOISE} realdev stance macro-F1 or more than "
          f"{selection.VAL_NOISE} validation score; so a candidate ranks above the champion exactly when "
          "`python -m training promote` would promote it. Realdev (passages rewritten from real news, never "
          "trained or tuned on) is shown with its 90% bootstrap interval; test is the corpus's own test split. "
          "F_avg is the mean F1 of favor and against.", "", leaderboard(runs, codebook, champion), "",
          "![per-label F1](per_label_f1.png)"]
    if has_curve:
        md += ["", "![learning curves](learning_curves.png)"]
    path = out_dir / "leaderboard.md"
    path.write_text("\n".join(md) + "\n")
    if log_run:
        exp_id = tracking.ensure_experiment(experiment)
        with tracking.plain_run(exp_id, f"report-{time.strftime('%Y%m%d-%H%M%S')}", {"kind": "report"}):
            tracking.log_params({"report.runs": len(runs)})
            for f in ("leaderboard.md", "per_label_f1.png", "learning_curves.png"):
                if (out_dir / f).exists():
                    tracking.log_artifact(out_dir / f, "report")
    return path
