"""Grid sweeps: every combination of a grid as a child run nested under one parent run.

A sweep file names a base experiment config and a grid of dotted keys::

    base: experiments/configs/default.yaml
    grid:
      train.learning_rate: [5.0e-5, 1.0e-4]
      model.max_length: [96, 128]
    overrides: {tracking: {register: false}}
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training import tracking
from training.config import ConfigError
from training.overrides import build_config, load_config, merge, nest_dotted, read_yaml_mapping

log = logging.getLogger(__name__)


@dataclass
class SweepSpec:
    name: str
    base: str | None
    grid: dict[str, list[Any]]
    overrides: dict[str, Any]

    def combinations(self) -> list[dict[str, Any]]:
        keys = list(self.grid)
        return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(self.grid[k] for k in keys))]


def load_sweep(path: str | Path) -> SweepSpec:
    """Read a sweep file; raise ``ConfigError`` naming the file and the bad key."""
    p = Path(path)
    data = read_yaml_mapping(p, "sweep")
    unknown = set(data) - {"base", "grid", "overrides", "name"}
    if unknown:
        raise ConfigError(f"{p}: unknown sweep key(s) {sorted(unknown)}; expected base, grid, overrides, name")
    grid = data.get("grid")
    if not isinstance(grid, dict) or not grid or not all(isinstance(v, list) and v for v in grid.values()):
        raise ConfigError(f"{p}: 'grid' must map dotted keys to non-empty lists of values")
    spec = SweepSpec(name=str(data.get("name") or p.stem), base=data.get("base"), grid=grid,
                     overrides=data.get("overrides") or {})
    for combo in spec.combinations():  # validate every point before training anything
        _config_for(spec, combo, p)
    return spec


def _config_for(spec: SweepSpec, combo: dict[str, Any], where: Path):
    base = load_config(spec.base).to_dict() if spec.base else {}
    try:
        return build_config(merge(merge(base, spec.overrides), nest_dotted(combo, "grid key")))
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def run_sweep(path: str | Path) -> tuple[str, list[str]]:
    """Train every grid point as a child of one parent run; return (parent id, child ids)."""
    from training.trainer import train

    spec = load_sweep(path)
    tracking.configure()
    combos = spec.combinations()
    first = _config_for(spec, combos[0], Path(path))
    experiment_id = tracking.ensure_experiment(first.tracking.experiment)
    children = []
    with tracking.plain_run(experiment_id, f"sweep-{spec.name}", {"sweep": spec.name, "kind": "sweep-parent"}) as parent:
        tracking.log_dict({"base": spec.base, "grid": spec.grid, "overrides": spec.overrides}, "sweep.yaml")
        tracking.log_params({"sweep.size": len(combos)})
        for i, combo in enumerate(combos, start=1):
            config = _config_for(spec, combo, Path(path))
            label = ",".join(f"{k.split('.')[1]}={v}" for k, v in combo.items())
            config.tracking.run_name = f"{spec.name}[{label}]"
            config.tracking.tags = {**config.tracking.tags, "sweep": spec.name}
            log.info("sweep %s: run %d/%d %s", spec.name, i, len(combos), label)
            children.append(train(config).run_id)
    return parent, children
