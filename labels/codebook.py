"""Load and check the label codebook, the single source of label ids.

Every frame, stance label and stance target that training and serving know comes from
``labels/codebook.yaml``. Adding a frame or a target is a change to that file and to the
annotations, never to code.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CODEBOOK = Path(__file__).with_name("codebook.yaml")
_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class CodebookError(ValueError):
    """The codebook file is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class Frame:
    id: str
    name: str
    definition: str
    decision_rules: tuple[str, ...] = ()
    boundary_cases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Target:
    id: str
    name: str
    description: str
    decision_rules: tuple[str, ...] = ()
    boundary_cases: tuple[str, ...] = ()
    frame: str | None = None  # the frame a passage carries when it discusses the target's subject


@dataclass(frozen=True)
class Codebook:
    """The label space. ``frames`` and ``targets`` keep the file's order, which fixes label indices."""

    version: str
    frames: tuple[Frame, ...]
    stance_labels: tuple[str, ...]
    targets: tuple[Target, ...]
    sha256: str
    path: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def frame_ids(self) -> list[str]:
        return [f.id for f in self.frames]

    @property
    def target_ids(self) -> list[str]:
        return [t.id for t in self.targets]

    def target(self, target_id: str) -> Target:
        """Return the target with this id; raise ``KeyError`` naming the known ids otherwise."""
        for t in self.targets:
            if t.id == target_id:
                return t
        raise KeyError(f"unknown stance target {target_id!r}; the codebook has {self.target_ids}")

    def to_dict(self) -> dict[str, Any]:
        """The codebook as plain data (what travels inside a saved model and over the API)."""
        return {
            "version": self.version,
            "sha256": self.sha256,
            "frames": [
                {"id": f.id, "name": f.name, "definition": f.definition,
                 "decision_rules": list(f.decision_rules), "boundary_cases": list(f.boundary_cases)}
                for f in self.frames
            ],
            "stance_labels": list(self.stance_labels),
            "targets": [
                {"id": t.id, "name": t.name, "description": t.description,
                 "decision_rules": list(t.decision_rules), "boundary_cases": list(t.boundary_cases),
                 "frame": t.frame}
                for t in self.targets
            ],
        }


def _target_frame(target: dict[str, Any], frame_ids: set[str], where: str) -> str | None:
    """A target's optional ``frame``: it must name a frame of the codebook."""
    frame = target.get("frame")
    if frame is None:
        return None
    if not isinstance(frame, str) or frame not in frame_ids:
        raise CodebookError(f"{where}: target {target['id']!r} names frame {frame!r}, which is not one of "
                            f"the codebook's frames {sorted(frame_ids)}")
    return frame


class _LineLoader(yaml.SafeLoader):
    """A YAML loader that records the line of every mapping as ``__line__``."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = yaml.SafeLoader.construct_mapping(loader, node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _strip_lines(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip_lines(v) for k, v in obj.items() if k != "__line__"}
    if isinstance(obj, list):
        return [_strip_lines(v) for v in obj]
    return obj


def _text_list(entry: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CodebookError(f"{where}: '{key}' must be a list of strings")
    return tuple(value)


def _require_str(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CodebookError(f"{where}: missing or empty '{key}'")
    return value.strip()


def _check_ids(entries: list[Any], kind: str, path: str) -> None:
    seen: dict[str, int] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise CodebookError(f"{path}: every {kind} must be a mapping, got {entry!r}")
        line = entry.get("__line__", "?")
        ident = entry.get("id")
        if not isinstance(ident, str) or not _ID_RE.match(ident):
            raise CodebookError(f"{path}:{line}: {kind} id {ident!r} must match {_ID_RE.pattern}")
        if ident in seen:
            raise CodebookError(f"{path}:{line}: duplicate {kind} id {ident!r} (first at line {seen[ident]})")
        seen[ident] = line


def parse_codebook(text: str, path: str = "<string>") -> Codebook:
    """Parse codebook YAML text; raise ``CodebookError`` naming file and line on any problem."""
    try:
        data = yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        raise CodebookError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise CodebookError(f"{path}: the codebook must be a mapping at the top level")
    version = data.get("version")
    if not isinstance(version, str) or not version.strip():
        raise CodebookError(f"{path}: missing 'version' (a string such as \"1.0.0\")")

    frames_raw = data.get("frames")
    if not isinstance(frames_raw, list) or not frames_raw:
        raise CodebookError(f"{path}: 'frames' must be a non-empty list")
    _check_ids(frames_raw, "frame", path)
    frames = tuple(
        Frame(
            id=f["id"],
            name=_require_str(f, "name", f"{path}:{f['__line__']}"),
            definition=_require_str(f, "definition", f"{path}:{f['__line__']}"),
            decision_rules=_text_list(f, "decision_rules", f"{path}:{f['__line__']}"),
            boundary_cases=_text_list(f, "boundary_cases", f"{path}:{f['__line__']}"),
        )
        for f in frames_raw
    )

    stance = data.get("stance")
    if not isinstance(stance, dict):
        raise CodebookError(f"{path}: missing 'stance' section")
    labels_raw = stance.get("labels")
    if not isinstance(labels_raw, list) or len(labels_raw) < 2:
        raise CodebookError(f"{path}: 'stance.labels' must list at least two labels")
    _check_ids(labels_raw, "stance label", path)
    stance_labels = tuple(lab["id"] for lab in labels_raw)
    targets_raw = stance.get("targets")
    if not isinstance(targets_raw, list) or not targets_raw:
        raise CodebookError(f"{path}: 'stance.targets' must be a non-empty list")
    _check_ids(targets_raw, "stance target", path)
    targets = tuple(
        Target(
            id=t["id"],
            name=_require_str(t, "name", f"{path}:{t['__line__']}"),
            description=_require_str(t, "description", f"{path}:{t['__line__']}"),
            decision_rules=_text_list(t, "decision_rules", f"{path}:{t['__line__']}"),
            boundary_cases=_text_list(t, "boundary_cases", f"{path}:{t['__line__']}"),
            frame=_target_frame(t, {f.id for f in frames}, f"{path}:{t['__line__']}"),
        )
        for t in targets_raw
    )
    clash = {f.id for f in frames} & {t.id for t in targets}
    if clash:
        raise CodebookError(f"{path}: ids used both as frame and stance target: {sorted(clash)}")
    return Codebook(
        version=version.strip(),
        frames=frames,
        stance_labels=stance_labels,
        targets=targets,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        path=path,
        raw=_strip_lines(data),
    )


def load_codebook(path: str | Path | None = None) -> Codebook:
    """Load the codebook from ``path`` (default: the packaged ``labels/codebook.yaml``)."""
    p = Path(path) if path is not None else DEFAULT_CODEBOOK
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CodebookError(f"{p}: codebook file not found") from exc
    except UnicodeDecodeError as exc:
        raise CodebookError(f"{p}: codebook is not valid UTF-8 ({exc})") from exc
    return parse_codebook(text, str(p))
