import re
from pathlib import Path

import pytest

from labels.codebook import CodebookError, load_codebook, parse_codebook

DEFAULT = Path(__file__).parents[2] / "labels" / "codebook.yaml"


def test_default_codebook_has_the_designed_labels(codebook):
    assert codebook.frame_ids == ["security_guarantee", "territorial_compromise", "escalation_risk"]
    assert codebook.target_ids == ["nato_protection", "territorial_concession"]
    assert codebook.stance_labels == ("favor", "against", "neutral")
    assert codebook.version
    for frame in codebook.frames:
        assert frame.definition and frame.decision_rules and frame.boundary_cases
    for target in codebook.targets:
        assert target.description and target.decision_rules
    assert len(codebook.sha256) == 64


def test_adding_a_frame_and_a_target_is_a_data_change():
    text = DEFAULT.read_text()
    text = text.replace("stance:\n", """  - id: energy_coercion
    name: Energy coercion
    definition: Energy supplies used as leverage.
stance:
""", 1)
    text = text.replace("  targets:\n", """  targets:
    - id: eu_membership
      name: EU membership for Ukraine
      description: Ukraine joining the European Union.
""", 1)
    cb = parse_codebook(text, "extended.yaml")
    assert cb.frame_ids[-1] == "energy_coercion"
    assert cb.target_ids[0] == "eu_membership"
    assert cb.target("eu_membership").name == "EU membership for Ukraine"


def test_duplicate_frame_id_names_file_and_line():
    text = DEFAULT.read_text().replace("id: escalation_risk", "id: security_guarantee")
    with pytest.raises(CodebookError) as err:
        parse_codebook(text, "dup.yaml")
    msg = str(err.value)
    assert "dup.yaml:" in msg and "duplicate frame id 'security_guarantee'" in msg
    line = int(msg.split("dup.yaml:")[1].split(":")[0])
    assert "security_guarantee" in text.splitlines()[line - 1] or "security_guarantee" in text.splitlines()[line]


@pytest.mark.parametrize("mutation, expected", [
    (lambda t: re.sub(r'version: "[0-9.]+"', "", t), "missing 'version'"),
    (lambda t: t.replace("id: nato_protection", "id: NATO protection"), "must match"),
    (lambda t: "frames: [", "invalid YAML"),
    (lambda t: t.replace("    definition: >-\n      The passage treats security", "    note: >-\n      The passage treats security", 1), "missing or empty 'definition'"),
])
def test_malformed_codebooks_fail_clearly(mutation, expected):
    with pytest.raises(CodebookError, match=expected):
        parse_codebook(mutation(DEFAULT.read_text()), "bad.yaml")


def test_missing_file(tmp_path):
    with pytest.raises(CodebookError, match="not found"):
        load_codebook(tmp_path / "nope.yaml")


def test_unknown_target_lookup_names_known_targets(codebook):
    with pytest.raises(KeyError, match="nato_protection"):
        codebook.target("eu_membership")


def test_realdev_reader_checks_labels_against_the_codebook(tmp_path, codebook):
    from labels.realdev import RealdevError, load_realdev
    from tests.conftest import TINY_REALDEV

    rd = load_realdev(TINY_REALDEV, codebook)
    assert len(rd) == 6 and len(rd.digest) == 64 and set(rd.records[0]) == {"id", "text", "frames", "stance"}
    bad = tmp_path / "rd.jsonl"
    bad.write_text(TINY_REALDEV.read_text().replace('"escalation_risk"', '"energy_coercion"') + "{not json\n")
    with pytest.raises(RealdevError) as err:
        load_realdev(bad, codebook)
    assert "2 problem(s)" in str(err.value) and ":6:" in str(err.value) and ":7: invalid JSON" in str(err.value)
    with pytest.raises(RealdevError, match="cannot read"):
        load_realdev(tmp_path / "missing.jsonl", codebook)
