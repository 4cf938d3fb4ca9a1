"""From a run config to the objects a run trains: the one builder.

`mg train`, the polyphonic benchmark and the tests go through here. `RunConfig` says what to
build (see `mg.training.config.run_config`); `build_model` builds the family's model from it,
seeded; `build_session` adds the optimiser, the mixed-precision scaler and the DDP wrapper, and
binds the model to the loaders the caller made for its data (an ingested dataset's splits,
or the benchmark's whole pieces).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mg.errors import DatasetError
from mg.models import registry
from mg.training import distributed
from mg.training.checkpoints import LoopState
from mg.training.config import RunConfig
from mg.training.distributed import Placement
from mg.training.loop import Session


def build_model(config: RunConfig, device: torch.device | str = "cpu") -> torch.nn.Module:
    """The family's model for `config`, initialised from `config.train.seed`."""
    torch.manual_seed(config.train.seed)
    return registry.get(config.family).build(config.model).to(device)


def build_session(
    config: RunConfig,
    kind: Any,
    model: torch.nn.Module,
    loaders: tuple[Any, Any | None],
    placement: Placement,
    work: Path,
    forward: torch.nn.Module | None = None,
) -> Session:
    """A session over `loaders` (train, and valid on rank 0): AdamW (weight_decay 0 is Adam),
    a GradScaler for CUDA float16, the DDP wrapper, and the planned number of steps.

    `forward`: the module the training step calls, holding the model and no other parameter
    (default the model; the benchmark's chunks call a state carrier); DDP wraps it."""
    train = config.train
    train_loader, valid_loader = loaders
    batches = distributed.all_min(train_loader.batches, placement)
    if batches == 0:
        raise DatasetError(
            f"the train split gives a process no batch ({placement.world_size} processes)"
        )
    optimizer = torch.optim.AdamW(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
    scaler = torch.amp.GradScaler(
        placement.device.type, enabled=placement.amp_dtype == torch.float16
    )
    planned = train.epochs * batches
    if train.max_steps:
        planned = min(planned, train.max_steps)
    family = registry.get(config.family)
    forward = distributed.wrap(model if forward is None else forward, placement)
    return Session(
        config, family, kind, model, forward, optimizer, scaler, train_loader, valid_loader,
        placement, LoopState(), work, planned,
    )  # fmt: skip
