"""``python -m training search``: prepare, seed-replicated runs (resumable), the report and the ensembles."""

import json

import pytest

from tests.conftest import tiny_overrides
from training import search
from training.overrides import build_config


@pytest.mark.slow
def test_search_runs_every_seed_resumes_and_reports(tmp_path):
    folder = tmp_path / "pack"
    search.prepare(folder, build_config(tiny_overrides()))
    assert (folder / "splits.pkl").is_file() and (folder / "encoder-fp16" / "model.safetensors").is_file()
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "seeds: [1, 2]\n"
        "settings:\n"
        "  tiny: {model.max_length: 64, train.epochs: 1, train.max_steps: 2, train.batch_size: 8}\n"
        "  broken: {model.max_length: 16, train.epochs: 1, train.max_steps: 2}\n"
    )
    out = tmp_path / "results.jsonl"
    scores = tmp_path / "scores"
    assert search.main(["run", str(folder), str(spec), "--out", str(out), "--threads", "1", "--scores", str(scores)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    ok = [r for r in rows if "error" not in r]
    assert sorted(r["seed"] for r in ok) == [1, 2] and {r["setting"] for r in ok} == {"tiny"}
    assert all(0.0 <= r["val_stance_macro_f1"] <= 1.0 and r["curves"] for r in ok)
    # max_length 16 leaves no room for the passage: recorded as failed, the search went on
    failed = [r for r in rows if "error" in r]
    assert len(failed) == 2 and "leaves no room for the passage" in failed[0]["error"]
    # a second run skips what succeeded and retries only the failures
    assert search.main(["run", str(folder), str(spec), "--out", str(out), "--only", "tiny"]) == 0
    assert len(out.read_text().splitlines()) == len(rows)
    table = search.report([out])
    assert "| tiny | 2 |" in table and "broken" not in table
    assert sorted(p.name for p in scores.glob("*.npz")) == ["tiny-1.npz", "tiny-2.npz"]
    # an ensemble of one seed is that run: its single-run cell equals its all-seeds cell
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "tiny-1.npz").write_bytes((scores / "tiny-1.npz").read_bytes())
    row = search.ensembles(folder, tmp_path / "one").splitlines()[-1]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:2] == ["tiny", "1"] and cells[3] == "-" and cells[2] == cells[4]
    seed1 = next(r for r in ok if r["seed"] == 1)
    assert cells[2].endswith(f"{seed1['test_frames_macro_f1']:.3f} / {seed1['test_stance_macro_f1']:.3f}")
    assert "| tiny | 2 |" in search.ensembles(folder, scores)
