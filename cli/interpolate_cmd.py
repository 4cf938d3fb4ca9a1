"""`mg interpolate`: two pieces into a latent model, the path between them back out as music."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mg.cli.common import one_line_errors, quiet_mlflow


def interpolate(
    model_uri: Annotated[
        str,
        typer.Option(
            "--model-uri",
            help="A latent model (music-vae): models:/NAME/VERSION, models:/NAME@ALIAS, "
            "runs:/RUN_ID/PATH or a model folder.",
        ),
    ],
    start: Annotated[Path, typer.Argument(help="The first end: a MIDI/ABC/MusicXML file.")],
    end: Annotated[Path, typer.Argument(help="The other end.")],
    steps: Annotated[int, typer.Option(min=2, help="Points on the path, both ends included.")] = 5,
    out: Annotated[Path, typer.Option(help="Folder for the files.")] = Path("out"),
    tracking_uri: Annotated[
        str | None,
        typer.Option(help="MLflow tracking URI (else MLFLOW_TRACKING_URI, else ./mlflow.db)."),
    ] = None,
) -> None:
    """Encode the first segment of each file, walk the great circle between their latent means
    (spherical interpolation) and decode each point greedily: a MIDI file per point and one
    PNG with every step side by side."""
    from mg.generation.latent import interpolate_files

    quiet_mlflow()
    with one_line_errors():
        result = interpolate_files(model_uri, start, end, steps, out, tracking_uri)
    for path in [*result.midi, result.png]:
        typer.echo(str(path))
    typer.echo(f"{result.points} points from {result.uri} ({result.family}) in {out}")
