"""A trained model on disk: `config.json` + `model.safetensors`. Loading never unpickles.

config.json holds the family, its config, the dataset's grid and context kernel, and whatever
the model adds through an optional `checkpoint_extra() -> dict` (char-rnn: its vocabulary);
on load the model gets that back through an optional `load_extra(info)`. The weights are read
with safetensors only (no `torch.load`, no pickle).

The grid and kernel are checked on the way back: a model without a grid, or whose recorded
kernel is not the one this mg computes for that grid, is refused (its inputs would mean
something else), never given a default.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from mg.errors import ModelLoadError
from mg.models import registry
from mg.models.checks import check_config_fields, check_shapes, shapes_only, weights_header
from mg.representation.context import kernel_spec
from mg.representation.grid import Grid

FORMAT = "mg-model/1"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


@dataclass
class LoadedModel:
    family: registry.Family
    model: torch.nn.Module
    grid: Grid
    info: dict[str, Any]  # the whole config.json (extra fields such as the vocabulary included)


def save_model(
    folder: str | Path,
    family: str,
    model: torch.nn.Module,
    grid: Grid,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write the model's config (+ grid and context kernel) and weights into `folder`.

    `extra` adds top-level fields to config.json, after the model's own `checkpoint_extra()`.
    """
    config_cls = registry.get(family).config_cls
    if not isinstance(model.config, config_cls):
        raise ValueError(f"a {family} model has a {config_cls.__name__}, not {model.config!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model_extra = model.checkpoint_extra() if hasattr(model, "checkpoint_extra") else {}
    info = {
        **model_extra,
        **(extra or {}),
        "format": FORMAT,
        "family": family,
        "config": dataclasses.asdict(model.config),
        "grid": grid.to_dict(),
        "kernel": kernel_spec(grid),
    }
    (folder / CONFIG_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_FILE))
    return folder


def load_model(folder: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild a model from `folder`; any problem is one ModelLoadError naming the folder."""
    folder = Path(folder)
    info = _read_config(folder)
    try:
        family = registry.get(info["family"])
        config = _checked_config(folder, family, info)
        model = family.build(config)
        model.load_state_dict(load_file(str(folder / WEIGHTS_FILE), device="cpu"))
        if hasattr(model, "load_extra"):
            model.load_extra(info)
    except ModelLoadError:
        raise
    except (ValueError, KeyError, TypeError, RuntimeError, OSError, SafetensorError) as exc:
        raise ModelLoadError(f"{folder}: cannot load the model: {exc}") from None
    return LoadedModel(family, model.to(device).eval(), recorded_grid(folder, info), info)


def recorded_grid(folder: Path, info: dict[str, Any]) -> Grid:
    """The grid config.json records, checked against its recorded context kernel."""
    try:
        grid = Grid.from_dict(info["grid"])
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ModelLoadError(f"{folder}: the model records no valid grid") from None
    if info.get("kernel") != kernel_spec(grid):
        raise ModelLoadError(
            f"{folder}: the model's recorded context kernel differs from this mg's for its grid "
            f"(recorded {info.get('kernel')}); it was trained on other inputs"
        )
    return grid


def _checked_config(folder: Path, family: registry.Family, info: dict[str, Any]):
    """The config, once its sizes are checked against the weights file's header (see checks)."""
    weights = folder / WEIGHTS_FILE
    header = weights_header(weights)
    if not isinstance(info.get("config"), dict):
        raise ModelLoadError(f"{folder / CONFIG_FILE}: no config table")
    check_config_fields(family.config_cls, info["config"], str(folder / CONFIG_FILE), len(header))
    try:
        config = family.config_from_dict(info["config"])
    except ValueError as exc:  # a key this mg's config does not have
        raise ModelLoadError(f"{folder / CONFIG_FILE}: {exc}") from None
    with shapes_only():
        check_shapes(family.build(config), header, str(weights))
    return config


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / CONFIG_FILE
    if not path.is_file() or not (folder / WEIGHTS_FILE).is_file():
        raise ModelLoadError(f"{folder}: not an mg model (needs {CONFIG_FILE} and {WEIGHTS_FILE})")
    try:
        info = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise ModelLoadError(f"{path}: not an {FORMAT} model config")
    return info
