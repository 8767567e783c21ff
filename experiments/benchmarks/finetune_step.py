"""Time of one fine-tuning step with and without the stored frozen-layer states (``train.cache_frozen``).

    .venv/bin/python experiments/benchmarks/finetune_step.py [--steps 20] [--rounds 3]

Builds the default fine-tune (all-MiniLM-L6-v2, the default ``freeze_layers``) on the training split
of the packaged corpus and times whole optimiser steps (forward, loss, backward, AdamW) on the same
length-bucketed batches, both ways, alternating in rounds so the machine's drift hits both alike.
Prints the median step of each way, their ratio, and the one-off cost of computing the stored
states and their memory. The two ways start from the same weights each round.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20, help="timed steps per way per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import numpy as np
    import torch

    from labels.codebook import load_codebook
    from training.models.finetune import FinetuneClassifier
    from training.overrides import build_config
    from training.trainer import load

    config = build_config({})
    data = load(config)
    clf = FinetuneClassifier(load_codebook(config.data.codebook), config)
    frozen = clf.freeze()
    items = clf.encode(data.train.texts)
    start = time.perf_counter()
    states = clf.frozen_states(items, frozen)
    states_s = time.perf_counter() - start
    states_mb = sum(s.numel() * s.element_size() for s in states) / 2**20

    initial = copy.deepcopy(clf.model.state_dict())
    rng = np.random.default_rng(0)
    batches = clf.batches([len(x["input_ids"]) for x in items], rng)[: args.steps]
    loss_fn = torch.nn.BCEWithLogitsLoss()
    frames = torch.from_numpy(data.train.frames)

    def run(cached: bool) -> list[float]:
        clf.model.load_state_dict(initial)
        clf.model.train()
        optim = torch.optim.AdamW(clf.param_groups())
        times = []
        for idx in batches:
            t = time.perf_counter()
            batch = clf.batch(items, idx, states if cached else None)
            frame_logits, stance_logits = clf.model(batch, frozen if cached else 0)
            loss = loss_fn(frame_logits, frames[idx]) + stance_logits.square().mean()
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            times.append(time.perf_counter() - t)
        return times

    stored, whole = [], []
    for _ in range(args.rounds):
        stored += run(True)
        whole += run(False)
    s, w = statistics.median(stored), statistics.median(whole)
    print(f"corpus {data.corpus.digest[:12]}: {len(items)} training passages, batch {config.train.batch_size}, "
          f"{frozen} of {len(clf.model.encoder.encoder.layer)} layers frozen; {args.rounds} rounds x {args.steps} steps")
    print(f"median step, whole encoder:   {w * 1000:.0f} ms")
    print(f"median step, stored states:   {s * 1000:.0f} ms  ({s / w:.2f}x)")
    print(f"stored states: computed once in {states_s:.1f} s, {states_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
