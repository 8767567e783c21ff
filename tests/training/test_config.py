import pytest

from training.config import ConfigError
from training.overrides import build_config, load_config, parse_overrides


def test_defaults_are_valid_and_flat_keys_are_dotted():
    cfg = build_config()
    assert cfg.model.family == "finetune"
    flat = cfg.flat()
    assert flat["train.epochs"] == cfg.train.epochs and "model.base_model" in flat


def test_file_overrides_then_cli(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("model: {family: tfidf}\ntrain: {epochs: 2, learning_rate: 1.0e-4}\n")
    cfg = load_config(path, ["--train.epochs=5", "--tracking.run_name=abc", "--data.data_dir=none"])
    assert cfg.model.family == "tfidf"
    assert cfg.train.epochs == 5 and cfg.train.learning_rate == 1e-4
    assert cfg.tracking.run_name == "abc" and cfg.data.data_dir is None


@pytest.mark.parametrize("text, message", [
    ("model: {familly: tfidf}\n", "unknown config key 'model.familly'"),
    ("modell: {family: tfidf}\n", "unknown config section 'modell'"),
    ("train: {epochs: many}\n", "train.epochs: expected an integer"),
    ("train: {epochs: 0}\n", "train.epochs must be >= 1"),
    ("model: {family: bert}\n", "model.family"),
    ("model: {target_text: label}\n", "model.target_text"),
    ("train: {tune_thresholds: maybe}\n", "expected true/false"),
    ("data: {train_fraction: 1.5}\n", "train_fraction"),
    ("train: {device: gpu}\n", "train.device must be 'cpu', 'cuda' or 'cuda:N'"),
    ("train: {layer_lr_decay: 0}\n", "train.layer_lr_decay must be in"),
    ("- just\n- a list\n", "mapping"),
    ("model: {family: [unclosed\n", "bad.yaml:2: invalid YAML: expected ',' or ']'"),
    ("train:\n  epochs: 1\n   batch_size: 4\n", "bad.yaml:3: invalid YAML: mapping values are not allowed here"),
])
def test_bad_config_files_fail_naming_the_problem(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")) as err:
        load_config(path)
    assert "bad.yaml" in str(err.value)


def test_bad_cli_overrides():
    with pytest.raises(ConfigError, match="section.key"):
        parse_overrides(["--epochs=3"])
    with pytest.raises(ConfigError, match="--section.key=value"):
        parse_overrides(["train.epochs"])
    with pytest.raises(ConfigError, match="unknown config key 'train.epoch'"):
        load_config(None, ["--train.epoch=3"])


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_checked_in_experiment_configs_are_valid():
    from pathlib import Path

    configs = sorted((Path(__file__).parents[2] / "experiments" / "configs").glob("*.yaml"))
    assert configs
    for path in configs:
        load_config(path)


def test_a_command_line_typo_is_blamed_on_the_command_line_with_a_suggestion(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("train: {epochs: 2}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, ["--model.lerning_rate=1e-4"])
    msg = str(err.value)
    assert msg.startswith("command line: unknown config key 'model.lerning_rate'")
    assert "did you mean 'train.learning_rate'?" in msg and str(path) not in msg
    path.write_text("trian: {epochs: 2}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, ["--train.epochs=3"])
    assert str(err.value).startswith(f"{path}: unknown config section 'trian'") and "did you mean 'train'?" in str(err.value)


def test_train_help_lists_every_config_key(capsys):
    from training.__main__ import main
    from training.overrides import all_keys

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert all(f"--{key}=" in out for key in all_keys())
    assert "one of tfidf|embeddings|finetune" in out
