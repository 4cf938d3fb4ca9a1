"""`mg inspect FILE [--png OUT.png]`: what a file (or every file of a folder) becomes on the grid."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mg.cli.common import one_line_errors
from mg.representation.grid import Grid
from mg.representation.read import Piece
from mg.representation.summary import (
    describe_dropped,
    file_line,
    grid_line,
    piece_rows,
    summarise_file,
    supported_files,
)


def inspect(
    path: Annotated[
        Path,
        typer.Argument(
            metavar="FILE",
            help="A MIDI, ABC or MusicXML file, or a folder of them (searched recursively).",
        ),
    ],
    png: Annotated[
        Path | None,
        typer.Option(
            "--png", help="Draw the piano roll of the first tune (see --tune) to this PNG."
        ),
    ] = None,
    tune: Annotated[
        int | None,
        typer.Option(
            "--tune",
            min=0,
            help="Which tune --png draws: its index in a multi-tune ABC file (from 0).",
        ),
    ] = None,
) -> None:
    """What a file becomes: tunes, steps, bars, notes, pitch range, time signature, drops and why.

    A folder gets one line per file; its bad files are listed with their reason and the command
    still succeeds. A single bad FILE is one error line and exit code 1.
    """
    with one_line_errors():
        grid = Grid()
        inspect_one = _inspect_folder if path.is_dir() else _inspect_file
        piece = inspect_one(path, grid, tune)
        typer.echo(grid_line(grid))
        if png is not None:
            if piece is None:
                raise ValueError(f"{path}: tune {tune} was not read, nothing to draw")
            _draw(piece, grid, png)


def _inspect_file(path: Path, grid: Grid, tune: int | None) -> Piece | None:
    summary = summarise_file(path, grid, keep_tune=tune)
    if summary.error:
        raise summary.error
    typer.echo(file_line(summary))
    for row in piece_rows(summary):
        typer.echo(f"  {row}")
    return summary.first


def _inspect_folder(folder: Path, grid: Grid, tune: int | None) -> Piece | None:
    files = supported_files(folder)
    if not files:
        raise FileNotFoundError(f"{folder}: no MIDI, ABC or MusicXML file in this folder")
    first, bad, tunes, failed, dropped = None, [], 0, 0, {}
    for path in files:
        summary = summarise_file(path, grid, keep_tune=tune)
        typer.echo(file_line(summary, root=folder))
        if summary.error:
            bad.append(summary.error)
            continue
        first = first or summary.first
        tunes, failed = tunes + len(summary.pieces), failed + len(summary.failures)
        for name, count in summary.dropped().items():
            dropped[name] = dropped.get(name, 0) + count
    typer.echo(
        f"{len(files)} files: {len(files) - len(bad)} read, {len(bad)} bad; {tunes:,} tunes, "
        f"{failed} tune{'s' * (failed != 1)} failed; dropped: {describe_dropped(dropped)}"
    )
    if first is None:
        raise ValueError(f"{folder}: none of its {len(files)} files could be read")
    return first


def _draw(piece: Piece, grid: Grid, png: Path) -> None:
    from mg.representation.plot import pianoroll_png

    title = f"{Path(piece.source).name}, tune {piece.tune}: {piece.title}"
    drawn = pianoroll_png(piece.notes, grid, png, title=title, meter=piece.meter)
    typer.echo(f"wrote {drawn} ({title})")
