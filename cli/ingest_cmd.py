"""`mg ingest INPUT... --out DIR [options] [-- BEAM_OPTIONS...]`: a corpus → a Parquet dataset."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from mg.cli.common import one_line_errors, show_progress

# Beam's options follow `--`; click hands them over with the inputs, split off below.
CONTEXT_SETTINGS = {"allow_extra_args": True, "ignore_unknown_options": True}


def ingest(
    ctx: typer.Context,
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="Files, folders (walked recursively) or globs; local or gs://, s3://. "
            "Beam pipeline options go last, after `--`.",
            show_default=False,
        ),
    ],
    out: Annotated[str, typer.Option("--out", help="Dataset folder to write.")],
    workers: Annotated[
        int | None,
        typer.Option(help="Local worker processes (default: the number of cores)."),
    ] = None,
    runner: Annotated[
        str,
        typer.Option(
            help="Beam runner: DirectRunner (local), DaskRunner, FlinkRunner, SparkRunner, … (infra/beam.md)"
        ),
    ] = "DirectRunner",
    steps_per_beat: Annotated[
        int,
        typer.Option(
            help="Grid steps per quarter note (ε): 4 holds sixteenths (and a 6/8 beat in 6 "
            "steps), 12 holds triplets as well, at 3x the tensor size."
        ),
    ] = 4,
    beats_per_bar: Annotated[
        int, typer.Option(help="Quarters per nominal bar (ζ): a segment is ε·ζ·η steps.")
    ] = 4,
    bars: Annotated[int, typer.Option(help="Nominal bars per segment (η).")] = 16,
    meter: Annotated[
        str,
        typer.Option(
            help="score: bar lines from each tune's time signatures and pickup; fixed: every "
            "bar ζ/4 from the first step (the grid before schema 2)."
        ),
    ] = "score",
    pitch_range: Annotated[str, typer.Option(help="MIDI pitches LOW:HIGH kept.")] = "21:108",
    transpose: Annotated[
        str, typer.Option(help="Augment by transposing LOW:HIGH semitones (0:0 for none).")
    ] = "-3:3",
    split: Annotated[str, typer.Option(help="TRAIN/VALID/TEST ratios.")] = "0.8/0.1/0.1",
    shards: Annotated[
        int | None, typer.Option(help="Parquet files per split (default: from the size).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a dataset of another corpus in --out.")
    ] = False,
    transpose_all: Annotated[
        bool,
        typer.Option("--transpose-all", help="Augment every split, not only train."),
    ] = False,
    max_file_size: Annotated[
        int,
        typer.Option(
            "--max-file-size",
            help="Largest file read, in MB; larger files (and FIFOs, devices) are rejected unread.",
        ),
    ] = 64,
) -> None:
    """Turn a corpus of MIDI, ABC and MusicXML files into a sharded Parquet training set."""
    with one_line_errors():
        _import_beam_quietly()
        from mg.pipelines.ingest import ingest as run_ingest
        from mg.pipelines.options import IngestConfig, parse_split, parse_transpose
        from mg.representation.grid import Grid

        files, beam_args = _split_beam_args([*inputs, *ctx.args])
        low, high = Grid.parse_pitch_range(pitch_range)
        config = IngestConfig(
            inputs=tuple(files),
            out=out,
            grid=Grid(steps_per_beat, beats_per_bar, bars, low, high, meter=meter),
            transpose=parse_transpose(transpose),
            transpose_all=transpose_all,
            split=parse_split(split),
            shards=shards,
            overwrite=overwrite,
            runner=runner,
            beam_args=tuple(beam_args),
            progress=show_progress(),
            max_file_bytes=max_file_size << 20,
            **({"workers": workers} if workers is not None else {}),
        )
        report = run_ingest(config)
    typer.echo(report.summary)


def _import_beam_quietly() -> None:
    """Beam warns on the root logger at import time about optional Google Cloud clients."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        import apache_beam  # noqa: F401
    finally:
        root.setLevel(level)


def _split_beam_args(tokens: list[str]) -> tuple[list[str], list[str]]:
    """INPUT... then Beam options: everything from the first token that looks like an option."""
    for index, token in enumerate(tokens):
        if token.startswith("-"):
            return tokens[:index], tokens[index:]
    return tokens, []
