"""Promotion: move the ``champion`` alias to the ``candidate`` only if it wins by
``training.selection`` (validation and realdev, with noise bands), the rule the leaderboard ranks by.

Figures must be comparable: when the champion was trained on another corpus (another digest) its
validation figures are recomputed on the candidate's validation split, and when its realdev figures
come from another version of the real-news set (or none) they are recomputed on the candidate's.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from labels.codebook import load_codebook
from labels.dataset import load_corpus
from stance_model.predictor import Predictor
from training import selection, tracking
from training.data import load_realdev_data, to_task_data

log = logging.getLogger(__name__)
KEYS = selection.KEYS
REALDEV = selection.REALDEV_KEYS
SHOWN = ("test_frames_macro_f1", "test_stance_macro_f1", *KEYS)


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


def _champion_on_candidate_data(champion, cand_tags: dict[str, str]) -> tuple[dict[str, float], str]:
    """Champion metrics comparable with the candidate's: logged ones where the corpus and the
    realdev set are the same, recomputed on the candidate's data where they are not."""
    logged = tracking.run_metrics(champion.run_id)
    same_corpus = champion.tags.get("corpus_digest") == cand_tags.get("corpus_digest")
    cand_realdev = cand_tags.get("realdev_digest")
    same_realdev = cand_realdev is None or champion.tags.get("realdev_digest") == cand_realdev
    if same_corpus and same_realdev:
        return {k: logged[k] for k in SHOWN if k in logged}, "logged"
    from training.evaluation import evaluate

    codebook = load_codebook()
    out: dict[str, float] = {}
    how = []
    with tempfile.TemporaryDirectory() as tmp:
        pdir = tracking.download_predictor(f"models:/{champion.name}/{champion.version}", Path(tmp))
        predictor = Predictor.load(pdir)
        if same_corpus:
            out.update({k: logged[k] for k in SHOWN if k in logged and not k.startswith("realdev_")})
        else:
            corpus = load_corpus(codebook=codebook)
            if corpus.digest != cand_tags.get("corpus_digest"):
                raise PromotionError("the candidate was trained on another corpus than the one on disk; "
                                     "retrain before promoting")
            for split, prefix in (("validation", "val_"), ("test", "test_")):
                got, _ = evaluate(predictor, to_task_data(corpus.splits[split], predictor.codebook), prefix)
                out.update({k: v for k, v in got.items() if k in SHOWN})
            how.append("validation and test re-evaluated on the candidate's corpus")
        if cand_realdev is not None:
            if same_realdev:
                out.update({k: logged[k] for k in REALDEV if k in logged})
            else:
                realdev, digest = load_realdev_data("auto", predictor.codebook)
                if realdev is None or digest != cand_realdev:
                    raise PromotionError("the candidate's realdev set is not the one on disk (or it is absent); "
                                         "retrain before promoting")
                got, _ = evaluate(predictor, realdev, "realdev_")
                out.update({k: v for k, v in got.items() if k in SHOWN})
                how.append("realdev re-evaluated")
    return out, "; ".join(how) or "logged"


def promote(name: str, force: bool = False, reason: str | None = None) -> Promotion:
    """Compare candidate and champion of ``name`` and move ``champion`` if the candidate wins.

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
    cand_m = {k: cand_all[k] for k in SHOWN if k in cand_all}
    missing = [k for k in selection.VAL_KEYS if k not in cand_m]
    if missing:
        raise PromotionError(f"candidate version {cand.version} lacks metrics {missing}")
    champ_m: dict[str, float] = {}
    how = ""
    if champ_v == cand_v:
        return Promotion(False, cand_v, champ_v, "candidate is already the champion", cand_m, cand_m)
    if champ is None:
        ok, why = True, "no champion yet"
    else:
        champ_m, how = _champion_on_candidate_data(champ, dict(cand.tags))
        verdict = selection.compare(cand_m, champ_m)
        ok, why = verdict.wins, verdict.reason
    if not ok and force:
        ok, why = True, f"forced: {reason} (otherwise: {why})"
    lines = [f"## Promotion check ({'promoted' if ok else 'rejected'})", "",
             f"| metric | candidate v{cand_v} | champion {('v' + champ_v) if champ_v else '-'} |",
             "|---|---:|---:|"]
    for k in SHOWN:
        if k in cand_m or k in champ_m:
            mine = f"{cand_m[k]:.4f}" if k in cand_m else "-"
            other = f"{champ_m[k]:.4f}" if k in champ_m else "-"
            lines.append(f"| {k} | {mine} | {other} |")
    lines.append(f"| selection score | {selection.score(cand_m):.4f} | "
                 + (f"{selection.score(champ_m):.4f} |" if champ_m else "- |"))
    lines += ["", f"Decision: {why}." + (f" Champion figures: {how}." if how else ""),
              (f"Rule: `training/selection.py` (realdev stance noise band {selection.REALDEV_NOISE}, "
              f"validation noise band {selection.VAL_NOISE}).")]
    tags = {"promotion.decision": "promoted" if ok else "rejected", "promotion.reason": why,
            "promotion.champion_before": champ_v or "none",
            **{f"promotion.candidate.{k}": f"{v:.4f}" for k, v in cand_m.items()},
            **{f"promotion.champion.{k}": f"{v:.4f}" for k, v in champ_m.items()}}
    description = (cand.description or "").split("\n## Promotion check")[0].rstrip() + "\n\n" + "\n".join(lines)
    tracking.tag_version(name, cand_v, tags, description)
    if ok:
        tracking.set_alias(name, tracking.CHAMPION, cand_v)
    return Promotion(ok, cand_v, champ_v, why, cand_m, champ_m)
