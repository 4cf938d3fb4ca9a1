"""Model families by name. The built-in ones live in `mg.zoo`; others plug in by entry point.

The library never imports a family's module directly: it asks this registry, which loads
`mg.zoo` (and any package that declares an `mg.zoo` entry point) on first use.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from torch import nn

from mg.models.layers import count_parameters
from mg.representation.grid import Grid

_FAMILIES: dict[str, Family] = {}
_LOADED = False


@dataclass(frozen=True)
class Family:
    """A model family: its config dataclass, builder, named size presets and input kind."""

    name: str
    config_cls: type
    build: Callable[[Any], nn.Module]
    presets: dict[str, dict[str, Any]]
    inputs: str  # "notes" (three matrices), "segments" (latent models of them) or "text" (ABC)
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
        from_grid = [k for k, v in overrides.items() if v is not None and k in _GRID_FIELDS]
        if from_grid:
            raise ValueError(
                f"{self.name}'s {', '.join(from_grid)} come(s) from the dataset's grid"
            )
        unknown = [k for k, v in overrides.items() if v is not None and k not in names]
        if unknown:
            raise ValueError(
                f"{self.name} has no option {', '.join(unknown)} (its options: "
                f"{', '.join(sorted(names - set(_GRID_FIELDS)))})"
            )
        defaults = self.config_cls()
        given = {k: v for k, v in overrides.items() if v is not None}
        values.update(
            {k: as_field(self.name, k, v, getattr(defaults, k)) for k, v in given.items()}
        )
        backbone = values.get("backbone")
        if backbone is not None and backbone not in self.backbones:
            raise ValueError(
                f"{self.name} has no backbone {backbone!r}; backbones: {', '.join(self.backbones)}"
            )
        return self.config_cls(**values)

    def config_from_dict(self, data: dict[str, Any]):
        """The config a saved dict describes (a model's config.json, a run's config); a field
        it does not hold keeps its default, a key it does not know is a ValueError naming it."""
        return from_fields(self.config_cls, data, f"{self.name} config")


def as_field(family: str, name: str, value: Any, default: Any) -> Any:
    """An option given as text (`mg train --set beta=0.1`) as its field's type (the type of its
    default); a value of the wrong type is one ValueError naming the option."""
    if not isinstance(value, str) or isinstance(default, str) or default is None:
        return value
    kind = type(default)
    try:
        if kind is bool:
            words = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
            return words[value.strip().lower()]
        return kind(value)
    except (KeyError, ValueError):
        raise ValueError(f"{family} option {name}: {value!r} is not {kind.__name__}") from None


def from_fields(cls: type, data: dict[str, Any], what: str):
    """The dataclass `cls` from `data`: an unknown key (another version's or family's field, a
    typo) is one ValueError naming it, never silently dropped."""
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ValueError(
            f"a {what} has no field {', '.join(map(repr, unknown))} (fields: {', '.join(names)})"
        )
    return cls(**data)


_GRID_FIELDS = ("alpha", "gamma", "bar_steps", "steps_per_beat")  # what _grid_fields sets


def _grid_fields(grid: Grid) -> dict[str, int]:
    """What a config takes from the dataset's grid (each field only where the config has it)."""
    return {
        "alpha": grid.alpha,
        "gamma": grid.position_width,  # the rows of P_t
        "bar_steps": grid.gamma,  # steps of a nominal bar, ε·ζ
        "steps_per_beat": grid.steps_per_beat,
    }


def register(family: Family) -> Family:
    """Add a family; a second, different family under a taken name is refused."""
    known = _FAMILIES.get(family.name)
    if known is not None and known.build is not family.build:
        raise ValueError(f"model family {family.name!r} is already registered by {known.build}")
    _FAMILIES[family.name] = family
    return family


def get(name: str) -> Family:
    """The family called `name` (built-in or plugged in); a ValueError names the known ones."""
    _load()
    if name not in _FAMILIES:
        close = difflib.get_close_matches(name, _FAMILIES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"unknown model family {name!r}{hint}; known: {', '.join(sorted(_FAMILIES))}"
        )
    return _FAMILIES[name]


def families() -> list[Family]:
    _load()
    return [_FAMILIES[name] for name in sorted(_FAMILIES)]


@dataclass(frozen=True)
class PresetSize:
    """One row of `mg zoo`: a family's preset with one backbone, and its parameter count."""

    family: str
    inputs: str
    preset: str
    backbone: str
    parameters: int


def preset_sizes(grid: Grid | None = None) -> list[PresetSize]:
    """Every family × preset × backbone with its parameter count at `grid` (default: Grid())."""
    grid = grid or Grid()
    rows = []
    for family in families():
        for preset in family.presets:
            for backbone in family.backbones:
                config = family.make_config(preset, grid, backbone=backbone)
                model = family.build(config)
                rows.append(
                    PresetSize(
                        family.name, family.inputs, preset, backbone, count_parameters(model)
                    )
                )
    return rows


def _load() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    import_module("mg.zoo")
    for entry in entry_points(group="mg.zoo"):
        entry.load()
