"""The protocol: train on the training split, choose the epoch on the validation split only,
report the test split once, per model; every run tracked in MLflow.

Training sees whole pieces (grouped by length, padded, masked), each transposed by a random
shift in −k…+k semitones every epoch (training split only; validation and test stay as
published). The best-validation weights are kept (early stopping) and the learning rate halves
when validation stops improving. A wall-clock budget bounds each model.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from mg.evaluation.polyphonic.conversion import (
    allowed_shifts,
    collate,
    length_batches,
    piece_arrays,
    transpose_roll,
)
from mg.evaluation.polyphonic.loaders import Splits, load, subset
from mg.evaluation.polyphonic.markov import fit_markov
from mg.evaluation.polyphonic.nll import model_nll, prepare
from mg.evaluation.polyphonic.report import merge_results, plot, render
from mg.evaluation.polyphonic.tracking import Tracker
from mg.models import registry
from mg.representation.grid import Grid


@dataclass(frozen=True)
class ModelSpec:
    """One model to train: a registered note family, its backbone, preset and overrides."""

    family: str
    backbone: str = "lstm"
    preset: str = "base"
    overrides: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.family} ({self.backbone.upper()})"


@dataclass(frozen=True)
class Settings:
    """Everything the protocol fixes for every model and every dataset alike."""

    grid: Grid
    max_epochs: int = 200
    budget_seconds: float = 900.0
    frames_per_batch: int = 2048
    learning_rate: float = 1e-3
    transpose: int = 6
    patience: int = 12
    clip: float = 1.0
    seed: int = 0

    def params(self) -> dict:
        values = {k: v for k, v in asdict(self).items() if k != "grid"}
        values.update({f"grid.{k}": v for k, v in self.grid.to_dict().items()})
        return values


@dataclass
class Result:
    """One model's figures on one dataset."""

    label: str
    parameters: int
    valid_nll: float
    test_nll: float
    train_seconds: float
    epochs: int = 0
    best_epoch: int = 0
    curve: list[float] = field(default_factory=list)
    run_id: str | None = None
    config: dict = field(default_factory=dict)


def model_label(family: str, config: dict) -> str:
    """'three-branch (LSTM 1×256, nade)': family, backbone, size and output head, so sizes and
    heads never share a row."""
    size = f" {config['layers']}×{config['hidden']}" if {"layers", "hidden"} <= set(config) else ""
    head = f", {config['head']}" if "head" in config else ""
    return f"{family} ({str(config.get('backbone', '')).upper()}{size}{head})"


def model_specs(
    families: list[str], backbones: list[str], preset: str, overrides: dict
) -> list[ModelSpec]:
    """Every family × backbone; `hidden` applies to the first only (the rest are matched to its
    parameter count), the other overrides (None: the preset's) to all."""
    given = {k: v for k, v in overrides.items() if v is not None}
    shared = {k: v for k, v in given.items() if k != "hidden"}
    pairs = [(family, backbone) for family in families for backbone in backbones]
    return [ModelSpec(f, b, preset, given if i == 0 else shared) for i, (f, b) in enumerate(pairs)]


def build_model(spec: ModelSpec, grid: Grid) -> torch.nn.Module:
    family = registry.get(spec.family)
    if family.inputs != "notes":
        raise ValueError(f"{spec.family} reads {family.inputs}, not note matrices")
    config = family.make_config(spec.preset, grid, backbone=spec.backbone, **spec.overrides)
    return family.build(config)


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def matched_hidden(spec: ModelSpec, grid: Grid, target: int) -> ModelSpec:
    """The spec with `hidden` chosen so its parameter count is closest to `target`."""
    count = lambda h: parameter_count(build_model(_with(spec, hidden=h), grid))  # noqa: E731
    low, high = 4, 2048
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if count(middle) <= target else (low, middle)
    best = min((low, high), key=lambda h: abs(count(h) - target))
    return _with(spec, hidden=best)


def set_pressed_prior(model: torch.nn.Module, rolls: list[np.ndarray]) -> bool:
    """Start the pressed logits at the training split's per-pitch log-odds.

    From logit 0 (61 nats per frame) the first updates are huge and, in a deep stack such as
    three-branch's, saturate the merge RNN's gates for good (it stalls at the marginal
    entropy). The note families end in an output head (mg.models.heads) that offers
    `set_pressed_prior`; a family without one is left as built (returns False).
    """
    head = getattr(model, "head", None)
    if not hasattr(head, "set_pressed_prior"):
        return False
    frequency = np.concatenate(rolls).mean(axis=0).clip(1e-4, 1 - 1e-4)
    head.set_pressed_prior(torch.from_numpy(np.log(frequency / (1 - frequency))).float())
    return True


def _with(spec: ModelSpec, **overrides) -> ModelSpec:
    return ModelSpec(spec.family, spec.backbone, spec.preset, {**spec.overrides, **overrides})


def run_markov(splits: Splits, tracker: Tracker) -> Result:
    start = time.perf_counter()
    markov = fit_markov(splits.train)
    seconds = time.perf_counter() - start
    valid, test = markov.nll(splits.valid).mean, markov.nll(splits.test).mean
    result = Result("per-pitch Markov", markov.parameters, valid, test, seconds, 1, 1, [valid])
    result.run_id = tracker.log_result(result, {"model": "markov", "smoothing": 1.0})
    return result


def run_model(
    spec: ModelSpec,
    splits: Splits,
    settings: Settings,
    tracker: Tracker,
    say: Callable[[str], None] = print,
) -> Result:
    """Train one model under the protocol and return its figures (MLflow run included)."""
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    model = build_model(spec, settings.grid)
    set_pressed_prior(model, splits.train)
    config = asdict(model.config)
    valid_pieces = prepare(splits.valid, settings.grid)
    params = {f"model.{k}": v for k, v in config.items()} | settings.params()
    params |= {"model.family": spec.family, "model.preset": spec.preset, "data": splits.source}
    label = model_label(spec.family, config)
    with tracker.run(label, params) as run:
        result = _train(model, splits, valid_pieces, settings, rng, run, say)
        result.label, result.config = label, config
        result.test_nll = model_nll(model, prepare(splits.test, settings.grid)).mean
        run.finish(result)
    say(f"{label}: valid {result.valid_nll:.3f}, test {result.test_nll:.3f}")
    return result


def _train(model, splits, valid_pieces, settings, rng, run, say) -> Result:
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimiser, factor=0.5, patience=3)
    start = time.perf_counter()
    deadline = start + settings.budget_seconds
    curve, best, best_state, best_epoch, epoch = [], float("inf"), None, 0, 0
    for epoch in range(1, settings.max_epochs + 1):
        train_loss = _epoch(model, optimiser, splits.train, settings, rng, deadline)
        valid = model_nll(model, valid_pieces).mean
        curve.append(valid)
        plateau.step(valid)
        elapsed = time.perf_counter() - start
        run.log_epoch(epoch, train_loss, valid, optimiser.param_groups[0]["lr"], elapsed)
        say(f"  epoch {epoch}: train {train_loss:.3f}  valid {valid:.3f}  ({elapsed:.0f} s)")
        if valid < best:
            best, best_epoch, best_state = valid, epoch, copy.deepcopy(model.state_dict())
        if epoch - best_epoch >= settings.patience or time.perf_counter() >= deadline:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    seconds = time.perf_counter() - start
    params = parameter_count(model)
    return Result("", params, best, float("nan"), seconds, epoch, best_epoch, curve)


def _epoch(model, optimiser, rolls, settings, rng, deadline) -> float:
    """One pass over the (transposed) training pieces; stops early at the deadline."""
    model.train()
    losses = []
    for indices in length_batches([len(r) for r in rolls], settings.frames_per_batch, rng):
        pieces = [
            piece_arrays(_augment(rolls[i], settings.transpose, rng), settings.grid)
            for i in indices
        ]
        batch = collate(pieces)
        loss, parts = model.loss(batch, model(batch))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), settings.clip)
        optimiser.step()
        losses.append(float(parts["nll_pressed"].detach()))
        if time.perf_counter() >= deadline:
            break
    return float(np.mean(losses)) if losses else float("nan")


def _augment(roll: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    if limit <= 0:
        return roll
    return transpose_roll(roll, int(rng.choice(allowed_shifts(roll, limit))))


def run_benchmark(
    dataset: str,
    splits: Splits,
    specs: list[ModelSpec],
    settings: Settings,
    tracker: Tracker,
    say: Callable[[str], None] = print,
) -> list[Result]:
    """The Markov floor, then every model (the budget shared evenly); hidden sizes after the
    first model's are matched to its parameter count unless given."""
    say(f"{dataset}: {splits.sizes()} pieces, {splits.frames('train')} training frames")
    results = [run_markov(splits, tracker)]
    say(f"per-pitch Markov: valid {results[0].valid_nll:.3f}, test {results[0].test_nll:.3f}")
    share = settings.budget_seconds / max(len(specs), 1)
    per_model = replace(settings, budget_seconds=share)
    target = None
    for spec in specs:
        if target is not None and "hidden" not in spec.overrides:
            spec = matched_hidden(spec, settings.grid, target)
        say(f"{spec.label}: {spec.overrides or 'preset ' + spec.preset}, {share / 60:.1f} min")
        result = run_model(spec, splits, per_model, tracker, say)
        target = result.parameters if target is None else target
        results.append(result)
    return results


def publish(
    dataset: str,
    results: list[Result],
    settings: Settings,
    report: Path,
    tracker: Tracker,
    command: str,
) -> list[Path]:
    """Merge into the JSON store beside `report`, re-render the Markdown, plot, log both to MLflow."""
    store = report.with_suffix(".json")
    data = merge_results(store, dataset, results, settings.params(), command)
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(render(data))
    figure = plot(
        dataset, data[dataset]["models"], report.with_name(f"{report.stem}-{dataset}.png")
    )
    tracker.log_report([report, figure])
    return [report, store, figure]


def run_polyphonic(
    dataset: str,
    path: Path,
    specs: list[ModelSpec],
    settings: Settings,
    report: Path,
    tracking_uri: str | None = None,
    pieces: int | None = None,
    command: str = "",
    say: Callable[[str], None] = print,
) -> list[Result]:
    """`mg benchmark polyphonic`: load, train and test every model, write the table and plot."""
    splits = load(path)
    if pieces:
        splits = subset(splits, pieces)
    if splits.dropped_notes:
        say(f"{path}: {splits.dropped_notes} notes outside MIDI 21..108 dropped")
    tracker = Tracker(tracking_uri, f"benchmark-{dataset}")
    results = run_benchmark(dataset, splits, specs, settings, tracker, say)
    for written in publish(dataset, results, settings, report, tracker, command):
        say(f"wrote {written}")
    return results
