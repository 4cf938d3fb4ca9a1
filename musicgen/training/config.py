"""What a training run is: the request from the command line, and the resolved config it records.

Importing this module does not import torch (the CLI reads its defaults for `--help`).
Configuration flows one way: `TrainRequest` (options, None = not given) → `RunConfig` (family
config from the preset and the dataset grid, plus `TrainConfig`) → builders. The run records
`RunConfig` as its `config` artifact and as flattened params (`model.*`, `data.*`, `train.*`),
and `--resume` reads it back from there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mg.errors import MgError
from mg.representation.grid import Grid

CONFIG_FORMAT = "mg-train-config/1"
DEFAULT_FAMILY = "three-branch"
DEFAULT_PRESET = "base"
SCHEDULES = ("cosine", "plateau")  # see mg.training.loop.lr_factor and plateau_update
BUDGET_EPOCHS = 1_000  # the epoch cap under --time-budget when --epochs is not given


class TrainError(MgError):
    """A training run that cannot start or cannot go on (bad options, out of memory, …)."""


def parse_duration(text: str) -> float:
    """'90', '90s', '20m', '1.5h' -> seconds; a TrainError names the option otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([smh]?)\s*", text.lower())
    if not match:
        raise TrainError(f"--time-budget {text!r}: expected a duration such as 90s, 20m or 1.5h")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation and loop settings; every field is logged as `train.<name>`."""

    lr: float = 2e-3
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    warmup_steps: int = 20  # linear warm-up, then cosine decay to min_lr_ratio · lr
    min_lr_ratio: float = 0.1
    schedule: str = "cosine"  # cosine | plateau: lr halved after 3 epochs without improvement
    batch_size: int = 16
    epochs: int = 10
    max_steps: int = 0  # 0: no cap besides epochs
    time_budget: float = 0.0  # seconds of training (validation included); 0: no limit
    seed: int = 0
    patience: int = 3  # epochs without a better selection metric before stopping
    workers: int = 0  # DataLoader worker processes
    shuffle_buffer: int = 256
    samples: int = 4  # pieces generated from the best checkpoint at the end
    world_size: int = 1  # processes training together (torchrun)

    def __post_init__(self) -> None:
        positive = {"batch_size": self.batch_size, "epochs": self.epochs}
        bad = [f"--{k.replace('_', '-')} must be at least 1" for k, v in positive.items() if v < 1]
        if self.lr < 0 or self.max_steps < 0 or self.patience < 0 or self.workers < 0:
            bad.append("--lr, --max-steps, --patience and --workers must not be negative")
        if self.time_budget < 0:
            bad.append("--time-budget must not be negative")
        if self.samples < 0:
            bad.append("--samples must not be negative")
        if self.schedule not in SCHEDULES:
            bad.append(f"schedule must be one of {', '.join(SCHEDULES)}, not {self.schedule!r}")
        if bad:
            raise TrainError("; ".join(bad))


TRAIN_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig))


@dataclass
class TrainRequest:
    """One `mg train` invocation. Override values of None mean 'not given on the command line'."""

    data: Path | None  # None only with `resume`: the run's recorded dataset
    family: str | None = None  # DEFAULT_FAMILY when not given
    preset: str | None = None  # DEFAULT_PRESET when not given
    model_overrides: dict[str, Any] = field(default_factory=dict)  # backbone, hidden, …
    train_overrides: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields
    experiment: str | None = None
    register: str | None = None
    resume: str | None = None  # run id to continue
    tracking_uri: str | None = None
    device: str = "cpu"  # cpu | cuda | auto


@dataclass(frozen=True)
class RunConfig:
    """The resolved configuration a run records and a resume restores."""

    family: str
    preset: str
    model: Any  # the family's config dataclass
    grid: Grid
    train: TrainConfig

    def to_json(self) -> dict[str, Any]:
        return {
            "format": CONFIG_FORMAT,
            "family": self.family,
            "preset": self.preset,
            "model": dataclasses.asdict(self.model),
            "data": self.grid.to_dict(),
            "train": dataclasses.asdict(self.train),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunConfig:
        from mg.models import registry  # imports torch: only when a config is built

        if data.get("format") != CONFIG_FORMAT:
            raise TrainError(f"not an {CONFIG_FORMAT} training config")
        family = registry.get(data["family"])
        return cls(
            family=family.name,
            preset=data["preset"],
            model=family.config_from_dict(data["model"]),
            grid=Grid.from_dict(data["data"]),
            train=registry.from_fields(TrainConfig, data["train"], "training config"),
        )

    def params(self) -> dict[str, str]:
        """Every field, flattened: model.family, model.hidden, data.steps_per_beat, train.lr, …"""
        flat = {"model.family": self.family, "model.preset": self.preset}
        for prefix, values in self.to_json().items():
            if isinstance(values, dict):
                flat.update({f"{prefix}.{k}": str(v) for k, v in values.items()})
        return flat


def resolve(request: TrainRequest, grid: Grid, world_size: int = 1) -> RunConfig:
    """A fresh run's config: the family's preset, the dataset grid, then the given options."""
    return run_config(
        request.family or DEFAULT_FAMILY,
        request.preset or DEFAULT_PRESET,
        grid,
        request.model_overrides,
        request.train_overrides,
        world_size,
    )


def run_config(
    family_name: str,
    preset: str,
    grid: Grid,
    model_overrides: dict[str, Any],
    train_overrides: dict[str, Any],
    world_size: int = 1,
) -> RunConfig:
    """Defaults, then the family's preset at `grid`, then the options given (None: not given);
    what `mg train` and the polyphonic benchmark both build from (`mg.training.build`)."""
    from mg.models import registry

    try:
        family = registry.get(family_name)
        model = family.make_config(preset, grid, **model_overrides)
    except (ValueError, TypeError) as exc:
        raise TrainError(str(exc)) from None
    given = {k: v for k, v in train_overrides.items() if v is not None}
    unknown = sorted(set(given) - set(TRAIN_FIELDS))
    if unknown:
        raise TrainError(f"unknown training option(s): {', '.join(unknown)}")
    if given.get("time_budget") and "epochs" not in given:
        given["epochs"] = BUDGET_EPOCHS  # the budget (or patience) ends the run
    train = TrainConfig(**{**given, "world_size": world_size})
    return RunConfig(family.name, preset, model, grid, train)


def check_resume_matches(request: TrainRequest, recorded: RunConfig, run_id: str) -> None:
    """Options given with --resume must agree with what the run recorded (it continues as it was)."""
    differences = []
    if request.family not in (None, recorded.family):
        differences.append(f"--model {request.family} (run: {recorded.family})")
    if request.preset not in (None, recorded.preset):
        differences.append(f"--preset {request.preset} (run: {recorded.preset})")
    from mg.models.registry import as_field

    for name, value in request.model_overrides.items():
        was = getattr(recorded.model, name, None)
        with contextlib.suppress(ValueError):  # --set's text as the field's type (else it
            value = as_field(recorded.family, name, value, was)  # differs, as said below)
        if value is not None and value != was:
            differences.append(f"model.{name}={value} (run: {was})")
    for name, value in request.train_overrides.items():
        was = getattr(recorded.train, name, None)
        if value is not None and value != was:
            differences.append(f"train.{name}={value} (run: {was})")
    if differences:
        raise TrainError(
            f"--resume {run_id} continues the run with its recorded config; these options differ: "
            + ", ".join(differences)
        )
