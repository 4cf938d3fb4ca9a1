"""`mg train`: any zoo family on an ingested dataset, tracked in MLflow, resumable, registrable.

The order of work is the contract: check the tracking store and the dataset (one line, before
any training); build the run's config, model and loaders; then open (or take over) the MLflow
run and train, one epoch at a time, each ending in a checkpoint; last, generate samples from
the best checkpoint, log the model and register it. The run ends FINISHED, KILLED (Ctrl-C,
SIGTERM) or FAILED (an error), never RUNNING. Under torchrun every rank trains; rank 0 alone
evaluates, checkpoints and writes to MLflow.
"""

from __future__ import annotations

import os
import shutil
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from mlflow.exceptions import MlflowException

from mg.data.notes import Dataset
from mg.errors import DatasetError, first_line
from mg.kinds import kind_of
from mg.models import registry
from mg.models.saving import load_model, save_model
from mg.tracking import runs as tracking
from mg.tracking.publish import Registered, log_model, register
from mg.training import distributed
from mg.training.build import build_model, build_session
from mg.training.checkpoints import load_checkpoint, save_checkpoint, swap_in
from mg.training.config import RunConfig, TrainError, TrainRequest, check_resume_matches, resolve
from mg.training.data import check_dataset
from mg.training.distributed import Placement, pick_device
from mg.training.loop import (
    Budget,
    Progress,
    Quiet,
    Session,
    advance,
    announce_run,
    train_epoch,
    validate,
)
from mg.training.resume_guard import check_same_manifest, resumed_data, run_lock
from mg.training.samples import write_samples


@dataclass
class TrainResult:
    run_id: str | None  # None on ranks other than 0
    epochs: int
    steps: int
    metrics: dict[str, float]  # the last epoch's
    selection_metric: str
    best_value: float
    best_epoch: int
    stopped_early: bool
    budget_spent: bool = False  # --time-budget ended the run
    model_uri: str | None = None
    registered: Registered | None = None


def train(
    request: TrainRequest, placement: Placement | None = None, progress: Progress | None = None
) -> TrainResult:
    """Train as `request` says; see the module docstring for the order of work."""
    placement = placement or Placement(device=pick_device(request.device))
    distributed.start(placement)
    try:
        with ExitStack() as locks:  # the run's lock (resume_guard), held while it trains
            return _train(request, placement, progress or Quiet(), locks)
    except MlflowException as exc:
        raise tracking.TrackingError(f"MLflow: {first_line(exc)}") from None
    finally:
        distributed.stop()


def _train(
    request: TrainRequest, placement: Placement, progress: Progress, locks: ExitStack
) -> TrainResult:
    uri = tracking.resolve_tracking_uri(request.tracking_uri, os.environ)
    store = tracking.connect(uri) if placement.is_main or request.resume else None
    data = request.data
    if request.resume:
        if placement.is_main:
            locks.enter_context(run_lock(request.resume))
        data = resumed_data(store.client, request.resume, request.data)
    dataset = Dataset.open(data)
    config = _run_config(request, dataset, placement, store)
    if request.resume:
        check_same_manifest(store.client, request.resume, dataset.root)
    check_dataset(dataset)
    with tracking.scratch_folder() as scratch:
        session = _session(config, dataset, placement, Path(scratch))
        if not placement.is_main:
            _resume_state(session, store, request.resume, Path(scratch))
            return fit(session, progress, run=None)
        if request.resume:
            _resume_state(session, store, request.resume, Path(scratch))
            run = tracking.reopen_run(store, request.resume)
        else:
            run = tracking.start_run(store, request.experiment, tracking.run_name(config))
            locks.enter_context(run_lock(run.run_id))
        with tracking.run_guard(run):
            if not request.resume:
                run.record(config, dataset)
            result = fit(session, progress, run)
            return _finish(session, result, request.register, Path(scratch), run, progress)


def _run_config(
    request: TrainRequest, dataset: Dataset, placement: Placement, store: tracking.Store | None
) -> RunConfig:
    if not request.resume:
        return resolve(request, dataset.grid, placement.world_size)
    recorded = tracking.recorded_config(store, request.resume)
    check_resume_matches(request, recorded, request.resume)
    if not dataset.grid.same_tensors(recorded.grid):
        raise DatasetError(
            f"{dataset.root}: dataset grid {dataset.grid.to_dict()} does not match the grid of "
            f"--resume {request.resume}'s model {recorded.grid.to_dict()}"
        )
    if recorded.train.world_size != placement.world_size:
        raise TrainError(
            f"--resume {request.resume}: the run trained on {recorded.train.world_size} "
            f"process(es); this launch has {placement.world_size}"
        )
    tracking.check_resumable(store, request.resume)
    return recorded


def _session(config: RunConfig, dataset: Dataset, placement: Placement, scratch: Path) -> Session:
    """The dataset's loaders for this process, and the session the builder makes of them."""
    kind = kind_of(registry.get(config.family))
    model = build_model(config, placement.device)
    train, pin = config.train, placement.device.type == "cuda"
    train_loader = kind.loader(dataset, "train", train, placement.rank, placement.world_size, pin)
    valid_loader = kind.loader(dataset, "valid", train, 0, 1, pin) if placement.is_main else None
    try:
        loaders = (train_loader, valid_loader)
        return build_session(config, kind, model, loaders, placement, scratch / "checkpoint")
    except DatasetError as exc:
        raise DatasetError(f"{dataset.root}: {exc}") from None


def _resume_state(
    session: Session, store: tracking.Store | None, run_id: str | None, scratch: Path
) -> None:
    """Load the run's last complete checkpoint (none yet: start from the beginning)."""
    if not run_id or store is None:
        return
    downloaded = tracking.download_checkpoint(store, run_id, scratch / "download")
    if downloaded is None:
        return
    shutil.rmtree(session.work, ignore_errors=True)
    shutil.copytree(downloaded, session.work)
    session.state = load_checkpoint(session.work / "state", session.model, session.optimizer)
    if session.state.scaler:
        session.scaler.load_state_dict(session.state.scaler)


def fit(session: Session, progress: Progress, run: tracking.Run | None) -> TrainResult:
    """Epochs until the config says stop, each validated, logged and checkpointed (rank 0,
    `run`); the best weights stay in the session's `work/best` (see `load_best`)."""
    state = session.state
    metrics = dict(state.history[-1]) if state.history else {}
    valid_batches = session.valid.batches if session.valid is not None else 0
    session.budget = Budget(
        session.config.train.time_budget, state.seconds, valid_batches=valid_batches
    )
    announce_run(progress, session)
    while not state.finished:
        epoch = state.epoch + 1
        metrics = train_epoch(session, epoch, progress)
        metrics.update(_validate(session, epoch, progress))
        improved = advance(state, session.config, metrics[session.kind.selection_metric], metrics)
        if run is not None:
            run.log_metrics(metrics, epoch)
            _checkpoint(session, improved, run)
            progress.epoch_end(epoch, metrics)
    return TrainResult(
        run.run_id if run else None, state.epoch, state.step, metrics, session.kind.selection_metric,
        state.best_value, state.best_epoch, state.stopped_early, state.budget_spent,
    )  # fmt: skip


def _validate(session: Session, epoch: int, progress: Progress) -> dict[str, float]:
    """`validate`, told to the user where it runs (rank 0): it takes long enough on a real
    split to look like a hang without a word."""
    if session.valid is None:
        return validate(session)
    tell(progress, f"epoch {epoch}: validating ({session.valid.batches:,} batches)")
    started = time.perf_counter()
    metrics = validate(session)
    tell(progress, f"epoch {epoch}: validated in {time.perf_counter() - started:.1f} s")
    return metrics


def tell(progress: Progress, line: str) -> None:
    """One line of what the run is doing now, to a progress that shows lines (has an optional
    `note(line)`, as `run_start`; the library's own progress stays silent)."""
    note = getattr(progress, "note", None)
    if note is not None:
        note(line)


def load_best(session: Session) -> None:
    """Put the best epoch's weights (the checkpoint `fit` kept) back into the model."""
    session.model.load_state_dict(load_model(session.work / "best").model.state_dict())


def _checkpoint(session: Session, improved: bool, run: tracking.Run) -> None:
    """Save best (when it improved) and last locally, atomically; then upload both."""
    config, work = session.config, session.work
    if improved:
        staging = work / "best.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        save_model(staging, config.family, session.model, config.grid)
        swap_in(staging, work / "best")
    session.state.scaler = session.scaler.state_dict() if session.scaler.is_enabled() else None
    save_checkpoint(
        work / "state", config.family, session.model, config.grid, session.optimizer, session.state
    )
    run.upload_checkpoint(work, session.state.epoch, session.state.step)


def _finish(
    session: Session,
    result: TrainResult,
    register_as: str | None,
    scratch: Path,
    run: tracking.Run,
    progress: Progress,
) -> TrainResult:
    """Samples from the best checkpoint, the logged model, the registered version."""
    best = session.work / "best"
    metric = session.kind.selection_metric
    run.set_tags(
        {
            "mg.best_epoch": str(result.best_epoch),
            "mg.epochs": str(result.epochs),
            "mg.stopped_early": str(result.stopped_early).lower(),
            "mg.time_budget_spent": str(result.budget_spent).lower(),
            "mg.selection_metric": metric,
        }
    )
    run.log_metrics({f"best/{metric}": result.best_value}, result.epochs)
    samples, count = scratch / "samples", session.config.train.samples
    if count:
        tell(progress, f"sampling {count} piece(s) from the best epoch ({result.best_epoch})")
    if write_samples(best, samples, count, session.config.train.seed):
        run.log_folder(samples, "samples")
    logged = log_model(run, best, scratch)
    result.model_uri = logged.uri
    if register_as:
        result.registered = register(run, register_as, logged, metric, result.best_value)
    return result
