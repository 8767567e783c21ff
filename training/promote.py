"""Promotion: move the ``champion`` alias to the ``candidate`` only if it is not worse.

Both versions are compared on the candidate's test split. When the champion was trained on a
different corpus (another digest), its logged figures are not comparable, so it is re-evaluated
on the candidate's corpus first.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from labels.codebook import load_codebook
from labels.dataset import load_corpus
from training import tracking
from training.data import to_task_data
from training.predictor import Predictor

log = logging.getLogger(__name__)
KEYS = ("test_frames_macro_f1", "test_stance_macro_f1")


@dataclass
class Promotion:
    promoted: bool
    candidate: str | None
    champion_before: str | None
    reason: str
    candidate_metrics: dict[str, float]
    champion_metrics: dict[str, float]


class PromotionError(RuntimeError):
    """Nothing to promote, or the comparison could not be made."""


def _champion_on_candidate_data(champion, corpus_digest: str) -> tuple[dict[str, float], str]:
    """Champion metrics comparable with the candidate's; re-evaluated if the corpora differ."""
    metrics = tracking.run_metrics(champion.run_id)
    if champion.tags.get("corpus_digest") == corpus_digest:
        return {k: metrics[k] for k in KEYS if k in metrics}, "logged"
    from training.evaluation import evaluate

    codebook = load_codebook()
    corpus = load_corpus(codebook=codebook)
    if corpus.digest != corpus_digest:
        raise PromotionError("the candidate was trained on another corpus than the one on disk; "
                             "retrain before promoting")
    with tempfile.TemporaryDirectory() as tmp:
        pdir = tracking.download_predictor(f"models:/{champion.name}/{champion.version}", Path(tmp))
        predictor = Predictor.load(pdir)
        got, _ = evaluate(predictor, to_task_data(corpus.splits["test"], predictor.codebook), "test_")
    return {k: got[k] for k in KEYS}, "re-evaluated on the candidate's test split"


def promote(name: str, force: bool = False, reason: str | None = None) -> Promotion:
    """Compare candidate and champion of ``name`` and move ``champion`` if the candidate is not worse.

    With ``force`` the alias moves regardless, and ``reason`` (required) is recorded.
    Raises ``PromotionError`` if there is no candidate.
    """
    if force and not reason:
        raise PromotionError("--force needs --reason, which is recorded on the model version")
    tracking.configure()
    cand = tracking.version_by_alias(name, tracking.CANDIDATE)
    if cand is None:
        raise PromotionError(f"registered model {name!r} has no '{tracking.CANDIDATE}' version; train first")
    champ = tracking.version_by_alias(name, tracking.CHAMPION)
    cand_v, champ_v = str(cand.version), (str(champ.version) if champ is not None else None)
    cand_all = tracking.run_metrics(cand.run_id)
    cand_m = {k: cand_all[k] for k in KEYS if k in cand_all}
    if len(cand_m) < len(KEYS):
        raise PromotionError(f"candidate version {cand.version} lacks metrics {KEYS}")
    champ_m: dict[str, float] = {}
    how = ""
    if champ_v == cand_v:
        return Promotion(False, cand_v, champ_v, "candidate is already the champion", cand_m, cand_m)
    if champ is not None:
        champ_m, how = _champion_on_candidate_data(champ, cand.tags.get("corpus_digest", ""))
    if champ is None:
        ok, why = True, "no champion yet"
    else:
        worse = [k for k in KEYS if cand_m[k] < champ_m.get(k, float("-inf"))]
        ok = not worse
        why = "not worse on " + ", ".join(KEYS) if ok else "worse on " + ", ".join(worse)
    if not ok and force:
        ok, why = True, f"forced: {reason} (otherwise: {why})"
    lines = [f"## Promotion check ({'promoted' if ok else 'rejected'})", "",
             f"| metric | candidate v{cand_v} | champion {('v' + champ_v) if champ_v else '-'} |",
             "|---|---:|---:|"]
    for k in KEYS:
        other = f"{champ_m[k]:.4f}" if k in champ_m else "-"
        lines.append(f"| {k} | {cand_m[k]:.4f} | {other} |")
    lines += ["", f"Decision: {why}." + (f" Champion figures: {how}." if how else "")]
    tags = {"promotion.decision": "promoted" if ok else "rejected", "promotion.reason": why,
            "promotion.champion_before": champ_v or "none",
            **{f"promotion.candidate.{k}": f"{v:.4f}" for k, v in cand_m.items()},
            **{f"promotion.champion.{k}": f"{v:.4f}" for k, v in champ_m.items()}}
    description = (cand.description or "").split("\n## Promotion check")[0].rstrip() + "\n\n" + "\n".join(lines)
    tracking.tag_version(name, cand_v, tags, description)
    if ok:
        tracking.set_alias(name, tracking.CHAMPION, cand_v)
    return Promotion(ok, cand_v, champ_v, why, cand_m, champ_m)
