"""The inner loop: one optimiser step, one epoch, one validation pass, the schedule, early stopping.

Everything here goes through the model protocol (`forward`, `loss`) and the input kind's batch
helpers; it never names a model class, and it never talks to MLflow.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from mg.kinds import InputKind
from mg.models.registry import Family
from mg.training import distributed
from mg.training.checkpoints import LoopState
from mg.training.config import RunConfig, TrainError
from mg.training.data import SplitLoader
from mg.training.distributed import Placement


class Progress(Protocol):
    """What the loop reports as it goes (the CLI draws a bar; the library stays silent).

    A progress object may also have `run_start(planned_steps, step, budget_s, elapsed_s)`,
    told before the first epoch of a launch the steps planned and taken, the time budget in
    seconds (0: none) and the time already spent (a resumed run's earlier launches): what a
    whole-run bar and its ETA need. It is optional (see `announce_run`).
    """

    def epoch_start(self, epoch: int, batches: int) -> None: ...

    def batch_end(self, loss: float, frames_per_s: float) -> None: ...

    def epoch_end(self, epoch: int, metrics: dict[str, float]) -> None: ...


def announce_run(progress: Progress, s: Session) -> None:
    """Tell `progress` the run's plan when it asks for it (has `run_start`)."""
    run_start = getattr(progress, "run_start", None)
    if run_start is not None:
        run_start(s.planned_steps, s.state.step, s.budget.seconds, s.budget.spent_before)


class Quiet:
    def epoch_start(self, epoch: int, batches: int) -> None:
        pass

    def batch_end(self, loss: float, frames_per_s: float) -> None:
        pass

    def epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        pass


@dataclass
class Budget:
    """`--time-budget`: the seconds a run may spend training and validating, counted across
    resumes. Training stops when the time left would not cover one more validation pass, and
    the learning-rate schedule is stretched over the steps the budget allows at the pace so far.
    """

    seconds: float = 0.0  # 0: no budget
    spent_before: float = 0.0  # by the run's earlier launches (resume)
    started: float = field(default_factory=time.perf_counter)
    reserve: float = 0.0  # the last validation pass's duration (before one: a guess)
    planned: int = 0  # the schedule's length estimated from the pace (0: not yet)
    valid_batches: int = 0  # the validation pass's batches, for the guess
    validated: bool = False  # reserve is a measured validation pass

    def elapsed(self) -> float:
        return self.spent_before + time.perf_counter() - self.started

    def over(self) -> bool:
        return bool(self.seconds) and self.elapsed() + self.reserve >= self.seconds

    def paced(self, seconds_per_step: float) -> None:
        """Until a validation pass is timed, guess its length from the training pace: a batch
        forward costs less than a training step's forward and backward; half a step is assumed, to be safe."""
        if not self.validated:
            self.reserve = 0.5 * seconds_per_step * self.valid_batches


@dataclass
class Session:
    """Everything one process's loop needs; built once by `mg.training.train`."""

    config: RunConfig
    family: Family
    kind: InputKind
    model: torch.nn.Module
    forward: torch.nn.Module  # the model, or its DDP wrapper
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    train: SplitLoader
    valid: SplitLoader | None  # rank 0 only
    placement: Placement
    state: LoopState
    work: Path  # local checkpoint folder
    planned_steps: int = 1
    budget: Budget = field(default_factory=Budget)


def lr_factor(step: int, planned: int, warmup: int, floor: float) -> float:
    """Linear warm-up over `warmup` steps, then cosine decay to `floor` at `planned` steps."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, planned - warmup))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def autocast(placement: Placement):
    dtype = placement.amp_dtype
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(placement.device.type, dtype=dtype)


@contextlib.contextmanager
def memory_hint(batch_size: int, device: torch.device) -> Iterator[None]:
    """Out-of-memory becomes one line that says what to change."""
    try:
        yield
    except (torch.OutOfMemoryError, MemoryError) as exc:
        raise TrainError(
            f"out of memory on {device} at --batch-size {batch_size}: lower --batch-size ({exc.__class__.__name__})"
        ) from None
    except RuntimeError as exc:
        if "out of memory" not in str(exc) and "can't allocate memory" not in str(exc):
            raise
        raise TrainError(
            f"out of memory on {device} at --batch-size {batch_size}: lower --batch-size"
        ) from None


PACE_EVERY = 50  # steps between re-estimates of the steps a time budget allows


def schedule_steps(s: Session) -> int:
    """The learning-rate schedule's length: the planned steps, or fewer when the time budget
    allows fewer at the pace so far. Rank 0's estimate is shared, so every rank agrees."""
    budget, step = s.budget, s.state.step
    if budget.seconds and step >= s.config.train.warmup_steps and step % PACE_EVERY == 0:
        fraction = max(budget.elapsed() / budget.seconds, 1e-6)
        estimate = distributed.from_main([step / fraction], s.placement)[0]
        budget.planned = max(step + 1, int(estimate))
    return min(s.planned_steps, budget.planned) if budget.planned else s.planned_steps


def train_step(s: Session, batch: Any, logged: dict[str, float] | None = None) -> float:
    """One optimiser step; the parts of the loss the model names in `logged_parts` (an
    optional attribute) are added to `logged`, and a model with `set_step` is first told the
    step (both optional hooks: mg.models.protocol)."""
    train = s.config.train
    set_step = getattr(s.model, "set_step", None)
    if set_step is not None:
        set_step(s.state.step)
    if train.schedule == "plateau":
        factor = s.state.lr_scale
    else:
        factor = lr_factor(s.state.step, schedule_steps(s), train.warmup_steps, train.min_lr_ratio)
    for group in s.optimizer.param_groups:
        group["lr"] = train.lr * factor
    with autocast(s.placement):
        output = s.forward(batch)
        loss, parts = s.model.loss(batch, output)
    value = float(loss.detach())
    if logged is not None:
        for name in getattr(s.model, "logged_parts", ()):
            logged[name] = logged.get(name, 0.0) + float(parts[name].detach())
    if not math.isfinite(value):
        raise TrainError(f"the loss became {value} at step {s.state.step + 1}: lower --lr")
    s.optimizer.zero_grad(set_to_none=True)
    s.scaler.scale(loss).backward()
    s.scaler.unscale_(s.optimizer)
    torch.nn.utils.clip_grad_norm_(s.model.parameters(), train.grad_clip)
    s.scaler.step(s.optimizer)
    s.scaler.update()
    s.state.step += 1
    return value


def train_epoch(s: Session, epoch: int, progress: Progress) -> dict[str, float]:
    """One pass over this rank's share of the train split; every rank takes as many steps."""
    s.model.train()
    progress.epoch_start(epoch, s.train.batches)
    batches = iter(s.train.epoch(epoch))
    loss_sum = frames = 0.0
    logged: dict[str, float] = {}  # sums of the model's logged loss parts, one term per step
    # The epoch's mean starts from the untrained model; its last quarter says where it ended.
    last_quarter: deque[tuple[float, float]] = deque(maxlen=max(1, -(-s.train.batches // 4)))
    start = time.perf_counter()
    first_step = s.state.step
    with memory_hint(s.config.train.batch_size, s.placement.device):
        while not steps_exhausted(s):
            over = s.budget.over()
            batch = None if over else next(batches, None)
            if not all_have_batch(batch is not None, s.placement):
                s.state.budget_spent = s.state.budget_spent or bool(
                    distributed.all_sum([float(over)], s.placement)[0]
                )
                break
            batch_frames = s.kind.frames(batch)
            loss = train_step(s, batch.to(s.placement.device), logged)
            s.budget.paced((time.perf_counter() - start) / (s.state.step - first_step))
            loss_sum, frames = loss_sum + loss * batch_frames, frames + batch_frames
            last_quarter.append((loss * batch_frames, batch_frames))
            progress.batch_end(loss, frames / (time.perf_counter() - start))
    elapsed = time.perf_counter() - start
    recent = [sum(pair) for pair in zip(*last_quarter, strict=True)] or [0.0, 0.0]
    steps = float(s.state.step - first_step)
    names = sorted(logged)
    loss_sum, frames, steps, *rest = distributed.all_sum(
        [loss_sum, frames, steps, *recent, *(logged[n] for n in names)], s.placement
    )
    recent, parts = rest[:2], rest[2:]
    return {
        "train/loss": loss_sum / max(frames, 1.0),
        "train/loss_last_quarter": recent[0] / max(recent[1], 1.0),
        "train/frames_per_s": frames / elapsed,
        **{f"train/{n}": v / max(steps, 1.0) for n, v in zip(names, parts, strict=True)},
    }


def steps_exhausted(s: Session) -> bool:
    return bool(s.config.train.max_steps) and s.state.step >= s.config.train.max_steps


def all_have_batch(have: bool, placement: Placement) -> bool:
    """True while every rank still has a batch (DDP needs the same number of steps everywhere)."""
    return distributed.all_min(int(have), placement) == 1 if placement.world_size > 1 else have


@torch.no_grad()
def split_sums(
    model: torch.nn.Module, loader: SplitLoader, kind: InputKind, placement: Placement
) -> dict[str, tuple[float, float]]:
    """Numerator and denominator of each of the kind's metrics over a whole split, so that the
    figures are exact means over frames, whatever the batching. Shared with `mg evaluate`."""
    model.eval()
    totals: dict[str, list[float]] = {}
    for batch in loader.epoch(0):
        batch = batch.to(placement.device)
        with autocast(placement):
            output = model(batch)
            loss, parts = model.loss(batch, output)
        for name, (numerator, denominator) in kind.sums(batch, output, loss, parts).items():
            total = totals.setdefault(name, [0.0, 0.0])
            total[0] += numerator
            total[1] += denominator
    return {name: (n, d) for name, (n, d) in totals.items()}


def evaluate(
    model: torch.nn.Module, loader: SplitLoader, kind: InputKind, placement: Placement
) -> dict[str, float]:
    """The kind's metrics over a whole split, as `valid/<name>`."""
    totals = split_sums(model, loader, kind, placement)
    return {f"valid/{k}": n / d if d else float("nan") for k, (n, d) in totals.items()}


def validate(s: Session) -> dict[str, float]:
    """Rank 0 evaluates the whole valid split; every rank learns the selection metric and
    whether the time budget is spent (no time left for more training and another validation)."""
    metric = s.kind.selection_metric
    metrics = {}
    start = time.perf_counter()
    if s.valid is not None:
        with memory_hint(s.config.train.batch_size, s.placement.device):
            metrics = evaluate(s.model, s.valid, s.kind, s.placement)
        if metric not in metrics:
            raise TrainError(f"validation did not report {metric}")
    s.budget.reserve, s.budget.validated = time.perf_counter() - start, True
    value = metrics.get(metric, float("nan"))
    metrics[metric], spent = distributed.from_main([value, float(s.budget.over())], s.placement)
    s.state.budget_spent = s.state.budget_spent or spent > 0
    s.state.seconds = s.budget.elapsed()
    return metrics


def advance(state: LoopState, config: RunConfig, value: float, metrics: dict[str, float]) -> bool:
    """Record a finished epoch; returns whether the selection metric improved."""
    train = config.train
    state.epoch += 1
    state.history.append(dict(metrics))
    improved = value < state.best_value  # NaN never improves
    if improved:
        state.best_value, state.best_epoch, state.stale_epochs = value, state.epoch, 0
    else:
        state.stale_epochs += 1
    out_of_time = (
        state.epoch >= train.epochs
        or (bool(train.max_steps) and state.step >= train.max_steps)
        or state.budget_spent
    )
    if train.schedule == "plateau":
        plateau_update(state, value)
    patience_over = train.patience > 0 and state.stale_epochs >= train.patience
    state.finished = out_of_time or patience_over
    state.stopped_early = patience_over and not out_of_time
    return improved


PLATEAU_EPOCHS = 3  # epochs without progress the plateau schedule tolerates
PLATEAU_FACTOR = 0.5
PLATEAU_THRESHOLD = 1e-4  # progress: below the best by this fraction of it


def plateau_update(state: LoopState, value: float) -> None:
    """The plateau schedule after an epoch (torch's ReduceLROnPlateau, mode min, relative
    threshold, no cooldown): the learning rate halves once the selection metric has not
    improved on its best by the threshold for more than PLATEAU_EPOCHS epochs."""
    if value < state.plateau_best * (1 - PLATEAU_THRESHOLD):
        state.plateau_best, state.plateau_epochs = value, 0
    else:
        state.plateau_epochs += 1
    if state.plateau_epochs > PLATEAU_EPOCHS:
        state.lr_scale *= PLATEAU_FACTOR
        state.plateau_epochs = 0
