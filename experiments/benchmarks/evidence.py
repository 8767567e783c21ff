"""What the article summary's evidence costs, and whether a cheaper way picks the same sentences.

    .venv/bin/python experiments/benchmarks/evidence.py PREDICTOR_DIR [--articles 80]

PREDICTOR_DIR is a saved predictor folder (for a registered model, the ``predictor`` folder among
its artifacts), served as the service serves it (int8 when its training check passed). The
articles are the corpus's test-split articles, their passages in order, one paragraph each. For
each article, through the service's own code (``serving.service.Service.article``):

- the wall time of the whole answer against labelling its passages alone (medians over
  articles, and their ratio);
- how many sentences were labelled again for evidence, and how many cited passages needed none
  (a passage of one sentence is its own answer);
- two cheaper ways to choose evidence sentences, scored by how often they choose exactly the
  sentences the service chooses: the model's TF-IDF half alone (no encoder run; fine-tunes with a
  TF-IDF blend only), and no scoring at all (every sentence of a cited passage).

Writes ``experiments/benchmarks/EVIDENCE.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from labels.codebook import load_codebook
from labels.dataset import load_corpus
from labels.splits import SplitConfig
from serving.model import LoadedModel
from serving.service import Service
from serving.summary import attach, plan_evidence, summarise_article
from stance_model.predictor import Predictor

OUT = Path(__file__).with_name("EVIDENCE.md")


def test_articles(limit: int) -> list[str]:
    """The test split's articles with at least two passages, as texts of one paragraph per passage."""
    codebook = load_codebook()
    split = load_corpus(None, codebook, SplitConfig(seed=13)).splits["test"]
    by_article: dict[str, list[str]] = defaultdict(list)
    for row in split:
        by_article[row["article_id"]].append(row["text"])
    return ["\n".join(ps) for _, ps in sorted(by_article.items()) if len(ps) >= 2][:limit]


def chosen(summary: dict[str, Any]) -> dict[tuple, tuple]:
    """Every evidence item's chosen sentence offsets, by (kind, label, side, passage)."""
    out = {}
    for f, fs in summary["frames"].items():
        for e in fs["evidence"]:
            out[("frame", f, "", e["passage"])] = tuple((s["start"], s["end"]) for s in e["sentences"])
    for t, ts in summary["stance"].items():
        for e in ts["evidence"]:
            out[("stance", t, e["label"], e["passage"])] = tuple((s["start"], s["end"]) for s in e["sentences"])
    return out


def summary_with(predictor: Predictor, passages: list[dict], results: list[dict], label_sentences) -> dict:
    """The article summary with evidence sentences labelled by ``label_sentences`` (texts -> results)."""
    targets = predictor.codebook.target_ids
    sents, pending = plan_evidence(passages, results, predictor.codebook, targets)
    if pending:
        attach(sents, pending, label_sentences([s["text"] for _, s in pending]))
    return summarise_article(passages, results, sents, predictor.codebook, targets)


async def measure(predictor: Predictor, articles: list[str]) -> dict[str, Any]:
    model = LoadedModel(predictor, "benchmark", "0", None, None, "registry")
    service = Service(lambda allow_cache: model, max_batch_size=32, max_queue=10_000)
    await service.start()
    whole, passages_only, relabelled, one_sentence, cited_total = [], [], 0, 0, 0
    agree = {"tfidf": [0, 0], "all": [0, 0]}
    tfidf = getattr(predictor.classifier, "tfidf", None)
    try:
        for text in articles:
            t0 = time.perf_counter()
            answer = await service.article(model, None, text, None, 256)
            whole.append(time.perf_counter() - t0)
            passages = [{k: p[k] for k in ("start", "end", "source", "text")} for p in answer["passages"]]
            t0 = time.perf_counter()
            results = await service.classify(model, [p["text"] for p in passages], None)
            passages_only.append(time.perf_counter() - t0)
            served = chosen(answer["summary"])
            sents, pending = plan_evidence(passages, results, predictor.codebook, predictor.codebook.target_ids)
            relabelled += len(pending)
            cited_total += len(sents)
            one_sentence += len(set(sents) - {j for j, _ in pending})
            if tfidf is not None:
                cheap = chosen(summary_with(predictor, passages, results,
                                            lambda texts: predictor.results(tfidf.predict_scores(texts))))
                agree["tfidf"][0] += sum(cheap.get(k) == v for k, v in served.items())
                agree["tfidf"][1] += len(served)
            for (_kind, _label, _side, i), spans in served.items():
                every = tuple((s["start"], s["end"]) for s, _ in sents[i]) if i in sents else ()
                agree["all"][0] += spans == every
                agree["all"][1] += 1
    finally:
        await service.stop()
    return {"whole": whole, "passages": passages_only, "relabelled": relabelled, "one_sentence": one_sentence,
            "cited": cited_total, "agree": agree}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("predictor", type=Path)
    parser.add_argument("--articles", type=int, default=80)
    args = parser.parse_args()
    predictor = Predictor.load(args.predictor)
    applied = predictor.optimize_for_inference(int8=True)
    articles = test_articles(args.articles)
    m = asyncio.run(measure(predictor, articles))
    whole, alone = statistics.median(m["whole"]), statistics.median(m["passages"])
    rate = {k: (a / n if n else float("nan"), n) for k, (a, n) in m["agree"].items()}
    lines = [
        "# What evidence costs (`experiments/benchmarks/evidence.py`)", "",
        (f"Model: run `{predictor.meta.get('run_name', '?')}` (corpus {str(predictor.meta.get('corpus_digest'))[:16]}), "
         f"family {predictor.classifier.family}; served as: {'; '.join(applied)}."),
        (f"{len(articles)} test-split articles (one paragraph per passage, "
        f"{statistics.median(len(a.splitlines()) for a in articles):.0f} passages at the median), one run "
        f"on {time.strftime('%Y-%m-%d')}."), "",
        "| measure | value |", "|---|---:|",
        f"| whole `/v1/articles` answer, median ms | {1000 * whole:.1f} |",
        f"| labelling the passages alone, median ms | {1000 * alone:.1f} |",
        f"| ratio (the summary and its evidence included) | {whole / alone:.2f} |",
        f"| passages cited as evidence | {m['cited']} |",
        f"| of them one sentence long (no second labelling) | {m['one_sentence']} |",
        f"| sentences labelled again | {m['relabelled']} |",
        (f"| cheaper choice: TF-IDF half alone picks the same sentences | "
        f"{100 * rate['tfidf'][0]:.1f}% of {rate['tfidf'][1]} items |"),
        (f"| cheaper choice: every sentence of the cited passage is the same | "
        f"{100 * rate['all'][0]:.1f}% of {rate['all'][1]} items |"), "",
    ]
    OUT.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
