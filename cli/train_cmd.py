"""`mg train`: parse the options, call mg.training.train.train, print what the run became."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mg.cli.common import one_line_errors, quiet_mlflow, show_progress
from mg.cli.train_progress import RunProgress
from mg.training.config import (  # no torch: that loads on a run
    TrainConfig,
    TrainError,
    TrainRequest,
    parse_duration,
)

DEFAULTS = TrainConfig()


def _check_duration(text: str | None) -> str | None:
    """A malformed --time-budget is a usage error (exit 2), found before anything loads."""
    if text is not None:
        try:
            parse_duration(text)
        except TrainError as exc:
            raise typer.BadParameter(str(exc).split(": ", 1)[-1]) from None
    return text


def _check_settings(pairs: list[str] | None) -> list[str] | None:
    """--set KEY=VALUE: a pair without '=' or a key given twice is a usage error (exit 2)."""
    keys = []
    for pair in pairs or []:
        key, sep, _ = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE")
        if key.strip() in keys:
            raise typer.BadParameter(f"{key.strip()} is set twice")
        keys.append(key.strip())
    return pairs


def model_options(named: dict, pairs: list[str] | None) -> dict:
    """The model options: the named ones (--hidden, …) and the --set pairs, each key once."""
    options = dict(named)
    for pair in pairs or []:
        key, _, value = pair.partition("=")
        key = key.strip()
        if options.get(key) is not None:
            raise typer.BadParameter(f"{key} is given twice (--{key} and --set {key}=…)")
        options[key] = value.strip()
    return options


def train(
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Ingested dataset folder (mg ingest --out); with --resume, the run's own.",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Model family (see `mg zoo`). (default: three-branch)"),
    ] = None,
    backbone: Annotated[
        str | None, typer.Option("--backbone", help="Recurrent cell: lstm or gru (the preset's).")
    ] = None,
    bars: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Segment families (music-vae): bars per segment the model encodes (the "
            "preset's: 2; 16 with --preset 16bar).",
        ),
    ] = None,
    head: Annotated[
        str | None,
        typer.Option(
            "--head",
            help="Output distribution of note families: nade (pitches of a frame depend on each "
            "other) or independent (88 Bernoullis). (default: nade)",
        ),
    ] = None,
    settings: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="A field of the model's config, KEY=VALUE (repeatable), over the preset's: "
            "e.g. --set beta=0.1 --set free_bits=1 for music-vae, --set dropout=0.2. An "
            "unknown key is one line listing the family's fields.",
            callback=_check_settings,
            show_default=False,
        ),
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(
            "--preset",
            help="Size preset: tiny or base (music-vae also 2bar, 16bar). (default: base)",
        ),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(help=f"Epochs at most. (default: {DEFAULTS.epochs})")
    ] = None,
    max_steps: Annotated[
        int | None,
        typer.Option("--max-steps", help="Optimizer steps at most (0: no cap). (default: 0)"),
    ] = None,
    time_budget: Annotated[
        str | None,
        typer.Option(
            "--time-budget",
            help="Train for at most this long, e.g. 90s, 20m, 1.5h (validation included); "
            "then validate, sample, log and register as usual. Without --epochs the budget "
            "(or --patience) ends the run.",
            callback=_check_duration,
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", help=f"Segments per batch. (default: {DEFAULTS.batch_size})"),
    ] = None,
    hidden: Annotated[
        int | None, typer.Option(help="Hidden size of the recurrent layers (the preset's).")
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="Seed of initialisation, shuffling, dropout and samples. (default: 0)"),
    ] = None,
    lr: Annotated[
        float | None, typer.Option(help=f"Peak learning rate (AdamW). (default: {DEFAULTS.lr})")
    ] = None,
    patience: Annotated[
        int | None,
        typer.Option(
            help=f"Stop after this many epochs without a better valid/nll_frame (0: never). (default: {DEFAULTS.patience})"
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="DataLoader worker processes. (default: 0)")
    ] = None,
    samples: Annotated[
        int | None,
        typer.Option(
            help=f"Pieces generated from the best checkpoint at the end. (default: {DEFAULTS.samples})"
        ),
    ] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda (mixed precision) or auto.")] = "cpu",
    experiment: Annotated[str | None, typer.Option(help="MLflow experiment name.")] = None,
    register: Annotated[
        str | None,
        typer.Option(help="Register the model under this name (aliases latest, champion)."),
    ] = None,
    resume: Annotated[
        str | None, typer.Option(help="Continue this MLflow run from its last checkpoint.")
    ] = None,
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            "--tracking-uri",
            help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)",
        ),
    ] = None,
) -> None:
    """Train a zoo model on an ingested dataset, tracked in MLflow."""
    quiet_mlflow()
    from mg.training.distributed import Placement
    from mg.training.train import train as run_training

    if data is None and resume is None:
        raise typer.BadParameter("--data DIR is required (unless --resume RUN_ID)")
    request = TrainRequest(
        data=data,
        family=model,
        preset=preset,
        model_overrides=model_options(
            {"backbone": backbone, "hidden": hidden, "head": head, "bars": bars}, settings
        ),
        train_overrides={
            "epochs": epochs,
            "max_steps": max_steps,
            "time_budget": None if time_budget is None else parse_duration(time_budget),
            "batch_size": batch_size,
            "seed": seed,
            "lr": lr,
            "patience": patience,
            "workers": workers,
            "samples": samples,
        },  # fmt: skip
        experiment=experiment,
        register=register,
        resume=resume,
        tracking_uri=tracking_uri,
        device=device,
    )
    with one_line_errors():
        placement = Placement.from_env(device)
        progress = RunProgress(bar=show_progress()) if placement.is_main else None
        result = run_training(request, placement, progress)
    if result.run_id:
        _report(result, max_steps)


def _report(result, max_steps: int | None) -> None:
    stop = " (stopped early)" if result.stopped_early else ""
    stop = " (time budget spent)" if result.budget_spent else stop
    if max_steps and result.steps >= max_steps and not stop:
        stop = f" (--max-steps {max_steps} reached)"
    epochs = f"{result.epochs} epoch{'s' if result.epochs != 1 else ''}"
    typer.echo(
        f"run {result.run_id}: {epochs}, {result.steps} steps{stop}; "
        f"best {result.selection_metric} {result.best_value:.4f} at epoch {result.best_epoch}"
    )
    run_model = f"runs:/{result.run_id}/model"
    if not result.registered:
        typer.echo(f"generate with: mg generate --model-uri {run_model}")
        typer.echo(f"  (the same model: {result.model_uri}, MLflow's id for it)")
        return
    version = result.registered
    aliases = "latest, champion" if version.champion else "latest"
    typer.echo(f"registered: models:/{version.name}/{version.version} (aliases: {aliases})")
    use = (
        f"models:/{version.name}@champion"
        if version.champion
        else f"models:/{version.name}/{version.version}"
    )
    typer.echo(f"generate with: mg generate --model-uri {use}")
    typer.echo(f"  (the same model: {run_model} and {result.model_uri}, MLflow's id for it)")
