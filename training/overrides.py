"""Building a config from overrides: the experiment YAML file, ``--section.key=value`` arguments,
type checks with "did you mean" for typos, and the key reference ``train --help`` prints."""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml

from training.config import ConfigError, ExperimentConfig


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check ``value`` against a field annotation, converting strings from the command line."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        if isinstance(value, str) and value.lower() in ("none", "null") and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError("; ".join(errors))
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}: {value!r} is not one of {list(args)}")
        return value
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return {str(k): str(v) for k, v in value.items()}
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        try:
            if isinstance(value, str):
                return int(value)
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, int):
                return value
        except ValueError:
            pass
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if annotation is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
    if annotation is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return str(value)
    return value


def _parse_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def build_config(overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """Build a validated config from nested overrides; raise ``ConfigError`` naming any bad key."""
    overrides = overrides or {}
    if not isinstance(overrides, dict):
        raise ConfigError("a config must be a mapping of sections (data, model, train, tracking)")
    sections: dict[str, Any] = {}
    hints = typing.get_type_hints(ExperimentConfig)
    for name, value in overrides.items():
        if name not in hints:
            raise ConfigError(f"unknown config section {name!r}; expected one of {sorted(hints)}"
                              f"{_did_you_mean(name, list(hints))}")
        if not isinstance(value, dict):
            raise ConfigError(f"section {name!r} must be a mapping of keys to values")
        cls = hints[name]
        field_hints = typing.get_type_hints(cls)
        kwargs = {}
        for key, v in value.items():
            if key not in field_hints:
                raise ConfigError(f"unknown config key '{name}.{key}'"
                                  f"{_did_you_mean(f'{name}.{key}', all_keys())}; {name} has {sorted(field_hints)}")
            kwargs[key] = _coerce(v, field_hints[key], f"{name}.{key}")
        try:
            sections[name] = cls(**kwargs)
        except ConfigError:
            raise
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"section {name!r}: {exc}") from exc
    return ExperimentConfig(**sections)


def all_keys() -> list[str]:
    """Every ``section.key`` a config accepts."""
    out = []
    for section, cls in typing.get_type_hints(ExperimentConfig).items():
        out += [f"{section}.{key}" for key in typing.get_type_hints(cls)]
    return out


def _did_you_mean(given: str, choices: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or nothing."""
    close = difflib.get_close_matches(given, choices, n=1, cutoff=0.6)
    if not close and "." in given:  # the right key in the wrong section: compare key names alone
        key = given.split(".", 1)[1]
        close = [c for c in choices if c.split(".", 1)[1] == key] or \
            [c for c in choices if difflib.get_close_matches(key, [c.split(".", 1)[1]], n=1, cutoff=0.8)]
    return f" (did you mean '{close[0]}'?)" if close else ""


def config_reference() -> str:
    """Every section and key with its type and default, for ``train --help``."""
    lines = []
    for section, cls in typing.get_type_hints(ExperimentConfig).items():
        lines.append(f"  {section}:")
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = "(required)"
            hint = hints[f.name]
            if typing.get_origin(hint) is Literal:
                kind = "one of " + "|".join(str(a) for a in typing.get_args(hint))
            else:
                kind = getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
            lines.append(f"    --{section}.{f.name}=...  {kind}, default {default!r}")
    return "\n".join(lines)


def nest_dotted(dotted: dict[str, Any], what: str = "key") -> dict[str, dict[str, Any]]:
    """``{"train.epochs": 3}`` -> ``{"train": {"epochs": 3}}``; ``what`` names the keys in the error."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in dotted.items():
        if key.count(".") != 1:
            raise ConfigError(f"{what} {key!r} must be section.key (e.g. train.epochs)")
        section, name = key.split(".")
        out.setdefault(section, {})[name] = value
    return out


def parse_overrides(args: list[str]) -> dict[str, Any]:
    """Turn ``--section.key=value`` arguments into nested overrides."""
    dotted: dict[str, Any] = {}
    for arg in args:
        if not arg.startswith("--") or "=" not in arg:
            raise ConfigError(f"override {arg!r} must look like --section.key=value")
        key, _, raw = arg[2:].partition("=")
        dotted[key] = _parse_value(raw)
    return nest_dotted(dotted, "override key")


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for section, values in extra.items():
        if isinstance(values, dict) and isinstance(out.get(section), dict):
            out[section].update(values)
        else:
            out[section] = values
    return out


def _yaml_error(exc: yaml.YAMLError) -> str:
    """``:LINE: invalid YAML: ...`` for a PyYAML error, on one line (PyYAML counts lines from 0)."""
    mark, problem = getattr(exc, "problem_mark", None), getattr(exc, "problem", None)
    if mark is None or problem is None:
        return ": invalid YAML: " + " ".join(str(exc).split())
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    opened = f" ({context} started at line {context_mark.line + 1})" if context and context_mark else ""
    return f":{mark.line + 1}: invalid YAML: {problem} at column {mark.column + 1}{opened}"


def read_yaml_mapping(path: str | Path, what: str) -> dict[str, Any]:
    """A YAML file that must hold a mapping; ``ConfigError`` naming the file otherwise."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{p}: {what} file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}{_yaml_error(exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a {what} file must be a mapping")
    return data


def load_config(path: str | Path | None, cli: list[str] | None = None) -> ExperimentConfig:
    """Load an experiment file of overrides plus command-line overrides into a validated config."""
    file_overrides = read_yaml_mapping(path, "config") if path is not None else {}
    try:
        build_config(file_overrides)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    try:
        return build_config(merge(file_overrides, parse_overrides(cli or [])))
    except ConfigError as exc:  # the file alone was valid: the command line is to blame
        raise ConfigError(f"command line: {exc}") from None
