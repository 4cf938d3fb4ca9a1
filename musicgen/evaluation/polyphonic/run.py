"""The protocol: train on the training split, choose the epoch on the validation split only,
report the test split once, per model; every run tracked in MLflow.

Each model is trained by the trainer (`mg.training`: the one builder, the loop, checkpoints,
mixed precision on CUDA) with the protocol's data and settings: whole pieces, each training piece
transposed by a random shift in −k…+k semitones every epoch (validation and test stay as
published), Adam (AdamW without decay) at a learning rate that halves when validation stops
improving, early stopping on validation, and a wall-clock budget per model. The best-validation
weights are then scored once on the test split.

Long pieces train in chunks (`Settings.chunk` frames, truncated back-propagation with the
recurrent state carried across a piece's chunks and reset between pieces:
mg.evaluation.polyphonic.chunks), so a batch holds many pieces; a family that carries no state
(the transformer) trains on whole pieces. Validation and test are always on whole pieces.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from mg.evaluation.polyphonic.chunks import StateCarrier, carries_state, check_chunk
from mg.evaluation.polyphonic.loaders import Splits, load
from mg.evaluation.polyphonic.markov import fit_markov
from mg.evaluation.polyphonic.nll import model_nll, prepare
from mg.evaluation.polyphonic.pieces import PIECES, VALID_FRAMES_PER_BATCH, PieceLoader
from mg.evaluation.polyphonic.report import merge_results, plot, render
from mg.evaluation.polyphonic.tracking import Tracker, log_figures
from mg.kinds.notes import NOTES
from mg.models import registry
from mg.representation.grid import Grid
from mg.training import distributed
from mg.training.build import build_model, build_session
from mg.training.config import RunConfig, TrainError, run_config
from mg.training.distributed import Placement
from mg.training.loop import Quiet
from mg.training.train import fit, load_best


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
    chunk: int = 128  # frames per training chunk, 0: whole pieces (polyphonic.chunks)

    def __post_init__(self) -> None:
        check_chunk(self.chunk)

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
    chunk: int = 0  # frames per training chunk it trained with (0: whole pieces)


def model_label(family: str, config: dict) -> str:
    """'three-branch (LSTM 1×256, nade)': family, backbone, size and output head, so sizes and
    heads never share a row."""
    size = f" {config['layers']}×{config['hidden']}" if {"layers", "hidden"} <= set(config) else ""
    head = f", {config['head']}" if "head" in config else ""
    return f"{family} ({str(config.get('backbone', '')).upper()}{size}{head})"


def model_specs(
    families: list[str], backbones: list[str], preset: str, overrides: dict
) -> list[ModelSpec]:
    """Every family × backbone it has (a family with none of `backbones`, such as the
    transformer, runs once with its own); `hidden` applies to the first only (the rest are
    matched to its parameter count), the other overrides (None: the preset's) to all."""
    given = {k: v for k, v in overrides.items() if v is not None}
    shared = {k: v for k, v in given.items() if k != "hidden"}
    pairs = [
        (family, backbone) for family in families for backbone in _backbones(family, backbones)
    ]
    return [ModelSpec(f, b, preset, given if i == 0 else shared) for i, (f, b) in enumerate(pairs)]


def _backbones(family: str, asked: list[str]) -> list[str]:
    own = registry.get(family).backbones
    return [b for b in asked if b in own] or [own[0]]


def spec_config(spec: ModelSpec, settings: Settings) -> RunConfig:
    """The run config the trainer builds one benchmark model from."""
    model = {"backbone": spec.backbone, **spec.overrides}
    train = {
        "lr": settings.learning_rate,
        "weight_decay": 0.0,
        "grad_clip": settings.clip,
        "warmup_steps": 0,
        "schedule": "plateau",
        "epochs": settings.max_epochs,
        "patience": settings.patience,
        "time_budget": settings.budget_seconds,
        "seed": settings.seed,
        "samples": 0,
    }
    try:
        return run_config(spec.family, spec.preset, settings.grid, model, train)
    except TrainError as exc:
        raise ValueError(str(exc)) from None


def note_config(spec: ModelSpec, settings: Settings) -> RunConfig:
    """`spec_config`, refused for a family that does not read note matrices."""
    config = spec_config(spec, settings)
    family = registry.get(spec.family)
    if family.inputs != NOTES.name:
        raise ValueError(f"{spec.family} reads {family.inputs}, not note matrices")
    return config


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def matched_hidden(spec: ModelSpec, settings: Settings, target: int) -> ModelSpec:
    """The spec with `hidden` chosen so its parameter count is closest to `target`, among the
    sizes the family builds (a transformer's must split into its heads)."""
    count = lambda h: parameter_count(build_model(note_config(_with(spec, hidden=h), settings)))  # noqa: E731
    step = next(s for s in (1, 2, 4, 8, 16, 32, 64, 128) if _builds(count, 8 * s, 9 * s))
    low, high = max(1, 4 // step), 2048 // step
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if count(middle * step) <= target else (low, middle)
    best = min((low, high), key=lambda k: abs(count(k * step) - target))
    return _with(spec, hidden=best * step)


def _builds(count: Callable[[int], int], *sizes: int) -> bool:
    try:
        return all(count(size) > 0 for size in sizes)
    except ValueError:
        return False


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
    tracker: Tracker | None,
    say: Callable[[str], None] = print,
    placement: Placement | None = None,
) -> Result | None:
    """Train one model under the protocol and return its figures (MLflow run included).

    Under torchrun every rank trains its share of each epoch; rank 0 (with the tracker)
    validates, checkpoints, tests and returns the figures, the other ranks return None."""
    placement = placement or Placement()
    config = note_config(spec, settings)
    model = build_model(config, placement.device)
    set_pressed_prior(model, splits.train)
    label = model_label(spec.family, asdict(config.model))
    if settings.chunk and not carries_state(model):
        say(f"{label}: trains on whole pieces (it carries no recurrent state across chunks)")
        settings = replace(settings, chunk=0)
    params = {k: v for k, v in config.params().items() if not k.startswith("train.")}
    params |= settings.params() | {"data": splits.source}
    tracked = tracker.run(label, params) if tracker else contextlib.nullcontext()
    with tracked as run, tempfile.TemporaryDirectory(prefix="mg-bench-") as work:
        loaders = piece_loaders(splits, settings, placement)
        carrier = StateCarrier(model) if settings.chunk else None
        session = build_session(config, PIECES, model, loaders, placement, Path(work), carrier)
        trained = fit(session, EpochLines(say) if run else Quiet(), run)
        if run is None:
            return None
        load_best(session)
        result = Result(
            label,
            parameter_count(model),
            trained.best_value,
            model_nll(model, prepare(splits.test, settings.grid)).mean,
            session.state.seconds,
            trained.epochs,
            trained.best_epoch,
            [epoch["valid/nll_frame"] for epoch in session.state.history],
            run.run_id,
            asdict(config.model),
            settings.chunk,
        )
        log_figures(run, result)
    say(f"{label}: valid {result.valid_nll:.3f}, test {result.test_nll:.3f}")
    return result


def piece_loaders(
    splits: Splits, settings: Settings, placement: Placement
) -> tuple[PieceLoader, PieceLoader | None]:
    """This process's training pieces (its share of every epoch's batches, in chunks when
    `settings.chunk`), and on rank 0 the validation pieces (whole)."""
    rng = np.random.default_rng(settings.seed)
    rank, world = placement.rank, placement.world_size
    train = PieceLoader(
        splits.train, settings.grid, settings.frames_per_batch, settings.transpose, rng, rank,
        world, settings.chunk,
    )  # fmt: skip
    if not placement.is_main:
        return train, None
    return train, PieceLoader(splits.valid, settings.grid, VALID_FRAMES_PER_BATCH)


class EpochLines:
    """The trainer's progress as one line per epoch."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say

    def epoch_start(self, epoch: int, batches: int) -> None:
        pass

    def batch_end(self, loss: float, frames_per_s: float) -> None:
        pass

    def epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        train, valid = metrics["train/loss"], metrics["valid/nll_frame"]
        self.say(f"  epoch {epoch}: train {train:.3f}  valid {valid:.3f}")


def run_benchmark(
    dataset: str,
    splits: Splits,
    specs: list[ModelSpec],
    settings: Settings,
    tracker: Tracker | None,
    say: Callable[[str], None] = print,
    placement: Placement | None = None,
) -> list[Result]:
    """The Markov floor, then every model (the budget shared evenly); hidden sizes after the
    first model's are matched to its parameter count unless given. Without a tracker (ranks
    other than 0) only the models' training runs."""
    say(f"{dataset}: {splits.sizes()} pieces, {splits.frames('train')} training frames")
    results = [run_markov(splits, tracker)] if tracker else []
    for markov in results:
        say(f"per-pitch Markov: valid {markov.valid_nll:.3f}, test {markov.test_nll:.3f}")
    share = settings.budget_seconds / max(len(specs), 1)
    per_model = replace(settings, budget_seconds=share)
    target = None
    for spec in specs:
        if target is not None and "hidden" not in spec.overrides:
            spec = matched_hidden(spec, settings, target)
        say(f"{spec.label}: {spec.overrides or 'preset ' + spec.preset}, {share / 60:.1f} min")
        if target is None:
            target = parameter_count(build_model(note_config(spec, settings)))
        result = run_model(spec, splits, per_model, tracker, say, placement)
        results += [result] if result else []
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
    tracking_uri: str,
    pieces: int | None = None,
    command: str = "",
    say: Callable[[str], None] = print,
    placement: Placement | None = None,
) -> list[Result]:
    """`mg benchmark polyphonic`: load, train and test every model, write the table and plot
    (rank 0 under torchrun; the other ranks only train)."""
    placement = placement or Placement()
    splits = load(path, pieces)  # only those pieces are converted
    if splits.dropped_notes:
        say(f"{path}: {splits.dropped_notes} notes outside MIDI 21..108 dropped")
    distributed.start(placement)
    try:
        if not placement.is_main:
            return run_benchmark(dataset, splits, specs, settings, None, lambda _: None, placement)
        tracker = Tracker(tracking_uri, f"benchmark-{dataset}")
        results = run_benchmark(dataset, splits, specs, settings, tracker, say, placement)
    finally:
        distributed.stop()
    for written in publish(dataset, results, settings, report, tracker, command):
        say(f"wrote {written}")
    return results
