"""Resumable training checkpoints, written atomically and read back without unpickling.

A checkpoint is a folder: the model as `mg.models.saving` writes it (config.json +
model.safetensors), `optimizer.safetensors` (the optimizer's tensors) and `trainer.json` (the
optimizer's scalar settings, the loop's counters, early-stopping state, and the RNG states'
names; the RNG tensors themselves sit in `rng.safetensors`). It is written to a sibling
`.tmp` folder, then swapped in with renames, so a crash leaves either the old checkpoint or the
new one, never half of one.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from mg.errors import MgError
from mg.models.saving import save_model
from mg.representation.grid import Grid

OPTIMIZER_FILE = "optimizer.safetensors"
RNG_FILE = "rng.safetensors"
TRAINER_FILE = "trainer.json"


class CheckpointError(MgError):
    """A checkpoint folder that is missing a file or does not match the model."""


@dataclass
class LoopState:
    """Where the loop stands after an epoch: what resume needs besides the tensors."""

    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps taken
    best_value: float = float("inf")  # best selection metric so far (lower is better)
    best_epoch: int = 0
    stale_epochs: int = 0  # epochs since the last improvement
    finished: bool = False  # stopped (epochs, max steps or early stopping)
    stopped_early: bool = False
    lr_scale: float = 1.0  # the plateau schedule's factor on the learning rate
    plateau_best: float = float("inf")  # the plateau schedule's best (its own threshold)
    plateau_epochs: int = 0  # epochs since the plateau schedule last saw progress
    seconds: float = 0.0  # training and validation time so far (what --time-budget counts)
    budget_spent: bool = False  # --time-budget ended the run
    scaler: dict[str, Any] | None = None  # GradScaler's state (CUDA float16 only)
    history: list[dict[str, float]] = field(default_factory=list)  # metrics per epoch

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("best_value", "plateau_best"):  # strict JSON has no Infinity
            data[name] = None if data[name] == float("inf") else data[name]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoopState:
        data = dict(data)
        for name in ("best_value", "plateau_best"):
            data[name] = float("inf") if data.get(name) is None else data[name]
        return cls(**data)


def save_checkpoint(
    folder: str | Path,
    family: str,
    model: torch.nn.Module,
    grid: Grid | None,
    optimizer: torch.optim.Optimizer,
    state: LoopState,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write the whole checkpoint into `folder.tmp`, then swap it in for `folder`."""
    folder = Path(folder)
    staging = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    save_model(staging, family, model, grid, extra)
    tensors, groups = optimizer_tensors(optimizer)
    save_file(tensors, str(staging / OPTIMIZER_FILE))
    save_file(rng_tensors(), str(staging / RNG_FILE))
    trainer = {"loop": state.to_json(), "optimizer_groups": groups}
    (staging / TRAINER_FILE).write_text(json.dumps(trainer, indent=2, sort_keys=True) + "\n")
    swap_in(staging, folder)
    return folder


def swap_in(staging: Path, folder: Path) -> None:
    """Replace `folder` by `staging` with renames only (the old copy survives until the end)."""
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    staging.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(
    folder: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> LoopState:
    """Restore model, optimizer and RNG states from `folder`; return the loop's state."""
    folder = _existing(Path(folder))
    try:
        model.load_state_dict(load_file(str(folder / "model.safetensors"), device="cpu"))
        trainer = json.loads((folder / TRAINER_FILE).read_text())
        tensors = load_file(str(folder / OPTIMIZER_FILE), device="cpu")
        load_optimizer(optimizer, tensors, trainer["optimizer_groups"])
        restore_rng(load_file(str(folder / RNG_FILE), device="cpu"))
        return LoopState.from_json(trainer["loop"])
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{folder}: cannot resume from this checkpoint: {exc}") from None


def _existing(folder: Path) -> Path:
    """The checkpoint, or the previous one when a crash hit between the two renames."""
    if (folder / TRAINER_FILE).is_file():
        return folder
    old = folder.with_name(folder.name + ".old")
    if (old / TRAINER_FILE).is_file():
        return old
    raise CheckpointError(f"{folder}: no checkpoint here (needs {TRAINER_FILE})")


def optimizer_tensors(
    optimizer: torch.optim.Optimizer,
) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    """The optimizer's state dict split into named tensors and JSON-able param groups."""
    state = optimizer.state_dict()
    tensors = {
        f"state.{index}.{name}": value.detach().cpu().contiguous()
        for index, slots in state["state"].items()
        for name, value in slots.items()
    }
    groups = [{k: _jsonable(v) for k, v in group.items()} for group in state["param_groups"]]
    return tensors, groups


def load_optimizer(
    optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: list[dict]
) -> None:
    slots: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        _, index, name = key.split(".", 2)
        slots.setdefault(int(index), {})[name] = value
    for group in groups:
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])
    optimizer.load_state_dict({"state": slots, "param_groups": groups})


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, torch.Tensor):
        return value.item()
    return value


def rng_tensors() -> dict[str, torch.Tensor]:
    """torch's CPU generator (and CUDA's, when present) as uint8 tensors."""
    states = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for index, state in enumerate(torch.cuda.get_rng_state_all()):
            states[f"torch_cuda_{index}"] = state
    return states


def restore_rng(states: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(states["torch_cpu"])
    names = sorted((k for k in states if k.startswith("torch_cuda_")), key=lambda k: int(k[11:]))
    cuda = [states[k] for k in names]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
