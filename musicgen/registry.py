"""Model families by name. The built-in ones live in `mg.zoo`; others plug in by entry point.

The library never imports a family's module directly: it asks this registry, which loads
`mg.zoo` (and any package that declares an `mg.zoo` entry point) on first use.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from torch import nn

from musicgen.grid import Grid

_FAMILIES: dict[str, Family] = {}
_LOADED = False


@dataclass(frozen=True)
class Family:
    """A model family: its config dataclass, builder, named size presets and input kind."""

    name: str
    config_cls: type
    build: Callable[[Any], nn.Module]
    presets: dict[str, dict[str, Any]]
    inputs: str  # "notes" (three matrices) or "text" (ABC characters)
    summary: str
    backbones: tuple[str, ...] = ("lstm", "gru")
    extra: dict[str, Any] = field(default_factory=dict)

    def make_config(self, preset: str = "base", grid: Grid | None = None, **overrides: Any):
        """Defaults, then the preset, then explicit overrides (None means 'not given')."""
        if preset not in self.presets:
            raise ValueError(
                f"{self.name} has no preset {preset!r}; presets: {', '.join(self.presets)}"
            )
        values = dict(self.presets[preset])
        names = {f.name for f in dataclasses.fields(self.config_cls)}
        if grid is not None:
            values.update({k: v for k, v in _grid_fields(grid).items() if k in names})
        unknown = [k for k, v in overrides.items() if v is not None and k not in names]
        if unknown:
            raise ValueError(f"{self.name} has no option {', '.join(unknown)}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return self.config_cls(**values)

    def config_from_dict(self, data: dict[str, Any]):
        names = {f.name for f in dataclasses.fields(self.config_cls)}
        return self.config_cls(**{k: v for k, v in data.items() if k in names})


def _grid_fields(grid: Grid) -> dict[str, int]:
    return {"alpha": grid.alpha, "gamma": grid.gamma}


def register(family: Family) -> Family:
    _FAMILIES[family.name] = family
    return family


def get(name: str) -> Family:
    _load()
    if name not in _FAMILIES:
        raise ValueError(f"unknown model family {name!r}; known: {', '.join(sorted(_FAMILIES))}")
    return _FAMILIES[name]


def families() -> list[Family]:
    _load()
    return [_FAMILIES[name] for name in sorted(_FAMILIES)]


def _load() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    import_module("mg.zoo")
    for entry in entry_points(group="mg.zoo"):
        entry.load()
