"""`mg benchmark polyphonic`: the models against the published polyphonic-music table."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from mg.cli.common import one_line_errors

app = typer.Typer(help="Benchmarks against published results.", no_args_is_help=True)

DEFAULT_MODELS = ["three-branch", "pianoroll-rnn"]
DEFAULT_BACKBONES = ["lstm", "gru"]


@app.command("polyphonic")
def polyphonic(
    dataset: Annotated[
        str | None,
        typer.Option(
            help="jsb | nottingham | musedata | piano (jsb when neither this nor --data)."
        ),
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="A benchmark file (.mat or pickled dict) of any dataset.")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            envvar="MG_POLYPHONIC_DIR",
            help="Folder holding the named datasets (default: $MG_SHARED_DATA/polyphonic, else ../shared/data/polyphonic beside the checkout).",
        ),
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(help="Note family to train (repeat; default: three-branch, pianoroll-rnn)."),
    ] = None,
    backbone: Annotated[
        list[str] | None, typer.Option(help="lstm | gru (repeat; default both).")
    ] = None,
    preset: Annotated[str, typer.Option(help="Size preset of every family.")] = "base",
    hidden: Annotated[
        int | None,
        typer.Option(
            help="Hidden size of the first model (later ones are matched to its parameter count)."
        ),
    ] = None,
    layers: Annotated[
        int,
        typer.Option(
            help="Layers per RNN, every model (0: the preset's; benchmarks/RESULTS-polyphonic.md "
            "says why one)."
        ),
    ] = 1,
    dropout: Annotated[float | None, typer.Option(help="Dropout (default: the preset's).")] = None,
    head: Annotated[
        str | None,
        typer.Option(help="Output head of every model: nade or independent (default: nade)."),
    ] = None,
    epochs: Annotated[int, typer.Option(help="At most this many epochs per model.")] = 200,
    time_budget: Annotated[
        float, typer.Option(help="Training minutes for the whole command, shared by the models.")
    ] = 60.0,
    frames_per_batch: Annotated[
        int, typer.Option(help="Real frames per batch (per chunk step with --chunk).")
    ] = 256,
    chunk: Annotated[
        int,
        typer.Option(
            help="Train in chunks of this many frames, the recurrent state carried across a "
            "piece's chunks (truncated back-propagation; 0: whole pieces). Validation and test "
            "stay on whole pieces."
        ),
    ] = 128,
    lr: Annotated[
        float,
        typer.Option(
            help="Adam learning rate, halved on validation plateaus (benchmarks/"
            "RESULTS-polyphonic.md has the rates tried)."
        ),
    ] = 1e-3,
    transpose: Annotated[
        int, typer.Option(help="Random training transposition in −k…+k semitones.")
    ] = 6,
    patience: Annotated[
        int, typer.Option(help="Stop after this many epochs without a better validation NLL.")
    ] = 12,
    steps_per_beat: Annotated[
        int, typer.Option(help="Grid for position and context (the files are one step per beat).")
    ] = 1,
    beats_per_bar: Annotated[
        int, typer.Option(help="Positions per bar = steps-per-beat × beats-per-bar.")
    ] = 4,
    pieces: Annotated[
        int | None, typer.Option(help="Only the first N pieces of each split (smoke runs).")
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Seed of initialisation, batching and transposition.")
    ] = 0,
    threads: Annotated[int, typer.Option(help="Torch CPU threads (0: all cores).")] = 0,
    device: Annotated[
        str,
        typer.Option(
            help="cpu | cuda | auto: where to train (mixed precision on CUDA); under torchrun "
            "every process trains its share of each epoch."
        ),
    ] = "cpu",
    report: Annotated[
        Path, typer.Option(help="Markdown table (a .json store and .png plot go beside it).")
    ] = Path("benchmarks/RESULTS-polyphonic.md"),
    tracking_uri: Annotated[
        str | None,
        typer.Option(help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else ./mlflow.db)."),
    ] = None,
) -> None:
    """Train on the training split, choose epochs on validation, report test NLL once per model."""
    with one_line_errors():
        import torch

        from mg.evaluation.polyphonic.loaders import default_folders, find_dataset
        from mg.evaluation.polyphonic.run import Settings, model_specs, run_polyphonic
        from mg.representation.grid import Grid
        from mg.tracking.runs import resolve_tracking_uri
        from mg.training.distributed import Placement

        name = dataset or (_name_of(data) if data else "jsb")
        path = data or find_dataset(name, [data_dir] if data_dir else default_folders(Path.cwd()))
        overrides = {"hidden": hidden, "layers": layers or None, "dropout": dropout, "head": head}
        specs = model_specs(
            model or DEFAULT_MODELS, backbone or DEFAULT_BACKBONES, preset, overrides
        )
        settings = Settings(
            Grid(steps_per_beat=steps_per_beat, beats_per_bar=beats_per_bar),
            max_epochs=epochs,
            budget_seconds=time_budget * 60,
            frames_per_batch=frames_per_batch,
            chunk=chunk,
            learning_rate=lr,
            transpose=transpose,
            patience=patience,
            seed=seed,
        )
        torch.set_num_threads(threads or os.cpu_count() or 1)
        command = "mg " + " ".join(sys.argv[1:]) if sys.argv[1:] else "mg benchmark polyphonic"
        uri = resolve_tracking_uri(tracking_uri, os.environ)
        placement = Placement.from_env(device)
        run_polyphonic(
            name, path, specs, settings, report, uri, pieces, command, typer.echo, placement
        )


def _name_of(path: Path) -> str:
    stem = path.stem.lower()
    for key in ("jsb", "nottingham", "musedata", "piano"):
        if key in stem:
            return key
    return stem
