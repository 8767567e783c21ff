"""The model card written into each registered version's description."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from labels.codebook import Codebook


def model_card(
    family: str,
    metrics: Mapping[str, float],
    codebook: Codebook,
    corpus_digest: str,
    config: Mapping[str, Any],
    split_sizes: Mapping[str, int],
) -> str:
    """Markdown: metrics table, data digest, codebook version, config, intended use and limits."""
    rows = ["| metric | validation | test |", "|---|---:|---:|"]
    keys = ["frames_macro_f1", *[f"frame_{f}_f1" for f in codebook.frame_ids], "stance_macro_f1", "stance_favg"]
    for t in codebook.target_ids:
        keys += [f"stance_{t}_macro_f1", f"stance_{t}_favg"]
    for k in keys:
        v, t = metrics.get(f"val_{k}"), metrics.get(f"test_{k}")
        rows.append(f"| {k} | {v:.3f} | {t:.3f} |" if v is not None and t is not None else f"| {k} | - | - |")
    cfg = "\n".join(f"- `{k}`: `{v}`" for k, v in sorted(config.items()))
    sizes = ", ".join(f"{k} {v}" for k, v in split_sizes.items())
    return f"""# stance-framing model card ({family})

## Metrics (thresholds tuned on validation)
{chr(10).join(rows)}

## Data
- Corpus digest: `{corpus_digest}`
- Codebook: version {codebook.version} (sha256 `{codebook.sha256[:16]}`)
- Passages per split: {sizes}
- Frames: {", ".join(codebook.frame_ids)}; stance targets: {", ".join(codebook.target_ids)}

## Config
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
- Test figures come from a split of the same corpus; expect lower figures on real news.
"""
