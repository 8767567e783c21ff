"""The model card written into each registered version's description."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from labels.codebook import Codebook

CONFIG_HEADING = "## Config"
"""The card's heading over its config list (``training.tracking.registry.fit_description`` shortens
that section first)."""


def model_card(
    family: str,
    metrics: Mapping[str, float],
    codebook: Codebook,
    corpus_digest: str,
    config: Mapping[str, Any],
    split_sizes: Mapping[str, int],
) -> str:
    """Markdown: metrics table, data digest, codebook version, config, intended use and limits."""
    rows = ["| metric | validation | test | realdev (real news) |", "|---|---:|---:|---:|"]
    keys = ["frames_macro_f1", *[f"frame_{f}_f1" for f in codebook.frame_ids], "stance_macro_f1", "stance_favg"]
    for t in codebook.target_ids:
        keys += [f"stance_{t}_macro_f1", f"stance_{t}_favg"]

    def cell(split: str, key: str) -> str:
        v = metrics.get(f"{split}_{key}")
        if v is None:
            return "-"
        lo, hi = metrics.get(f"{split}_{key}_ci_low"), metrics.get(f"{split}_{key}_ci_high")
        return f"{v:.3f} [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else f"{v:.3f}"

    for k in keys:
        rows.append(f"| {k} | {cell('val', k)} | {cell('test', k)} | {cell('realdev', k)} |")
    realdev_note = (
        "Realdev is passages rewritten from real news reports, never trained or tuned on: the figure to "
        "trust for real reporting. Brackets: 90% bootstrap interval over passages."
        if "realdev_stance_macro_f1" in metrics else
        "No realdev figures: the real-news evaluation set was absent when this model was trained, so its "
        "quality on real reporting is unmeasured.")
    trust = []
    for split, name in (("val", "validation"), ("test", "test"), ("realdev", "realdev")):
        p, c = metrics.get(f"{split}_confident_sides_precision"), metrics.get(f"{split}_confident_sides_coverage")
        if p is not None and c is not None:
            trust.append(f"- {name}: confident favor/against decisions {p:.3f} right, covering {c:.3f} of them")
    for key, text in (("scope_offtopic_out_of_scope_rate", "held-out off-topic news scored out of scope"),
                      ("scope_offtopic_hard_out_of_scope_rate", "of it, passages using the war's words in other senses"),
                      ("scope_realdev_in_scope_rate", "realdev scored in scope"),
                      ("scope_test_in_scope_rate", "test scored in scope")):
        if key in metrics:
            trust.append(f"- {text}: {metrics[key]:.3f}")
    trust_text = "\n".join(trust) or "- not measured: this model has no confidence thresholds or in_scope detector"
    cfg = "\n".join(f"- `{k}`: `{v}`" for k, v in sorted(config.items()))
    if "interpolation_alpha" in metrics:
        cfg += (f"\n\nWeights kept: {metrics['interpolation_alpha']:.1f} x fine-tuned + "
                f"{1 - metrics['interpolation_alpha']:.1f} x where fine-tuning started (pretrained encoder, "
                "linear-probe heads), the furthest step from the fine-tuned weights that cost validation no more "
                "than `train.interpolation_band`.")
    sizes = ", ".join(f"{k} {v}" for k, v in split_sizes.items())
    return f"""# stance-framing model card ({family})

## Metrics (thresholds tuned on validation)
{chr(10).join(rows)}

{realdev_note} `stance_favg` is F_avg, the mean F1 of favor and against (the SemEval-2016 stance
measure); `stance_macro_f1` also averages in neutral's F1, which a model earns by saying neutral often.

## Confidence and scope
Each decision's `confident` flag uses thresholds chosen on validation for 90% precision per kind
of decision; `in_scope` comes from a detector trained against news on other subjects.
{trust_text}

## Data
- Corpus digest: `{corpus_digest}`
- Codebook: version {codebook.version} (sha256 `{codebook.sha256[:16]}`)
- Passages per split: {sizes}
- Frames: {", ".join(codebook.frame_ids)}; stance targets: {", ".join(codebook.target_ids)}

{CONFIG_HEADING}
{cfg}

## Intended use
Labels English news passages (one paragraph or a headline with its standfirst) about the
Russia-Ukraine war and European security with the codebook's frames and per-target stance,
to help analysts count and compare framing across outlets and time. Scores are for
aggregate analysis and triage, not for judging a single article or author on their own.

## Limits
- Trained on a project-written corpus of {sum(split_sizes.values())} passages modelled on 2014-2025 reporting;
  real outlets' style, other languages and events after 2025 are out of distribution.
- Stance is what a passage conveys toward a target; irony, quoted opponents and long
  arguments spread over several paragraphs are common failure cases.
- Test figures come from a split of the same corpus, which shares writers and stock arguments with
  training; the realdev column is the measure of real reporting.
"""
