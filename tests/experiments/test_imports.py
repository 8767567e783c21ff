"""Every name the scripts under ``experiments/`` and ``scripts/`` import from this project exists.

The scripts run by hand (benchmarks, sweeps, reports), so a name moved or renamed in the packages
would otherwise surface only when someone next runs one. Imports inside functions count too.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("labels", "stance_model", "training", "serving", "scoring", "experiments")
SCRIPTS = sorted(p for folder in ("experiments", "scripts") for p in (ROOT / folder).rglob("*.py"))


def project_imports(path: Path) -> list[tuple[int, str, str | None]]:
    """(line, module, name or None) of each import of a project module in ``path``."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in PACKAGES:
                out += [(node.lineno, node.module, a.name) for a in node.names if a.name != "*"]
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name, None) for a in node.names if a.name.split(".")[0] in PACKAGES]
    return out


def test_the_scripts_are_found():
    names = {p.name for p in SCRIPTS}
    assert {"train_speed.py", "error_analysis.py", "audit.py"} <= names


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_project_name_a_script_imports_exists(path):
    missing = []
    for line, module, name in project_imports(path):
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:
            missing.append(f"{path.name}:{line}: module {module} ({exc})")
            continue
        if name is not None and not hasattr(mod, name):
            try:
                importlib.import_module(f"{module}.{name}")
            except ImportError:
                missing.append(f"{path.name}:{line}: {module} has no {name}")
    assert not missing, "\n".join(missing)


def test_a_missing_name_is_reported(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def main():\n    from stance_model.project import no_such_name\n")
    assert project_imports(bad) == [(2, "stance_model.project", "no_such_name")]
    with pytest.raises(AssertionError, match="has no no_such_name"):
        test_every_project_name_a_script_imports_exists(bad)
