"""The promotion rule and the leaderboard order are one rule: they never name different winners."""

import itertools

import numpy as np
import pytest

from training import selection


def _m(val_f=0.85, val_s=0.80, rd_f=0.90, rd_s=0.75):
    out = {"val_frames_macro_f1": val_f, "val_stance_macro_f1": val_s}
    if rd_f is not None:
        out.update({"realdev_frames_macro_f1": rd_f, "realdev_stance_macro_f1": rd_s})
    return out


def test_score_is_the_mean_of_validation_and_realdev():
    assert selection.score(_m(0.8, 0.7, 0.9, 0.6)) == pytest.approx(0.75)
    assert selection.score(_m(0.8, 0.7, None)) == pytest.approx(0.75)


def test_realdev_stance_loss_beyond_the_band_refuses_whatever_the_score():
    champion = _m(rd_s=0.80)
    better_elsewhere = _m(val_f=0.95, val_s=0.95, rd_f=0.99, rd_s=0.75)  # -0.05 on realdev stance
    verdict = selection.compare(better_elsewhere, champion)
    assert not verdict.wins and "realdev stance" in verdict.reason
    within_band = _m(val_f=0.95, val_s=0.95, rd_f=0.99, rd_s=0.77)
    assert selection.compare(within_band, champion).wins


def test_validation_loss_beyond_the_band_refuses():
    champion = _m()
    verdict = selection.compare(_m(val_f=0.80, val_s=0.80, rd_f=0.99, rd_s=0.90), champion)
    assert not verdict.wins and "validation" in verdict.reason


def test_a_challenger_without_realdev_never_replaces_one_with_it():
    assert not selection.compare(_m(0.99, 0.99, None), _m()).wins


def test_lower_score_within_the_bands_loses_and_a_tie_wins():
    champion = _m()
    assert not selection.compare(_m(rd_f=0.88), champion).wins
    assert selection.compare(dict(champion), champion).wins


def test_rank_and_compare_agree_on_every_pair():
    rng = np.random.default_rng(3)
    runs = [_m(*(rng.uniform(0.7, 0.95, 3)), rng.uniform(0.6, 0.85)) for _ in range(12)]
    runs.append(_m(0.99, 0.99, None))
    for champ in range(len(runs)):
        order = [i for i, _ in selection.rank(runs, champ)]
        for cand in range(len(runs)):
            if cand == champ:
                continue
            above = order.index(cand) < order.index(champ)
            assert above == selection.compare(runs[cand], runs[champ]).wins, (cand, champ)


def test_rank_puts_gate_failures_last_with_their_reason():
    runs = [_m(rd_s=0.80), _m(val_f=0.99, val_s=0.99, rd_f=0.99, rd_s=0.70), _m(rd_s=0.79, rd_f=0.91)]
    ranked = selection.rank(runs, champion=0)
    assert [i for i, _ in ranked] == [2, 0, 1]
    assert ranked[-1][1] and "realdev stance" in ranked[-1][1][0]
    assert all(not failed for _, failed in ranked[:2])
    assert list(itertools.chain.from_iterable(f for _, f in selection.rank([]))) == []
