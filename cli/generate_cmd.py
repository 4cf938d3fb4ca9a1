"""`mg generate`: a model URI back to music (MIDI, and a piano roll and audio when asked)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mg.cli.common import one_line_errors, quiet_mlflow, show_progress
from mg.generation import DEFAULT_TOP_P

if TYPE_CHECKING:  # the library (torch, mlflow) loads when the command runs, not for `mg --help`
    from mg.generation.generate import GenerateResult


def _check_key(value: str | None) -> str | None:
    from mg.generation.controls import key_pitch_classes

    return _checked(key_pitch_classes, value)


def _check_range(value: str | None) -> str | None:
    from mg.generation.controls import parse_pitch_range

    return _checked(parse_pitch_range, value)


def _checked(parse: Callable[[str], object], value: str | None) -> str | None:
    """A usage error (exit 2) naming the option when `parse` refuses the value."""
    if value is not None:
        try:
            parse(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    return value


def generate(
    model_uri: Annotated[
        str,
        typer.Option(
            "--model-uri",
            help="The model: a registered one, a run's, or a folder (the forms are above).",
        ),
    ],
    steps: Annotated[
        int, typer.Option(min=1, help="Steps to generate (characters for char-rnn).")
    ] = 256,
    num: Annotated[int, typer.Option(min=1, help="Pieces, generated as one batch.")] = 1,
    seed: Annotated[int, typer.Option(help="Same seed, model and options: same bytes.")] = 0,
    temperature: Annotated[
        float,
        typer.Option(
            min=1e-6,
            help="Below 1 chooses likelier pitches, above 1 wilder ones (never fewer notes: see "
            "README, sampling controls).",
        ),
    ] = 1.0,
    top_p: Annotated[
        float,
        typer.Option(
            min=1e-6,
            max=1.0,
            help="Sample only from the likeliest frames holding this share of the mass (1: the "
            "model's own distribution).",
        ),
    ] = DEFAULT_TOP_P,
    key: Annotated[
        str | None,
        typer.Option(
            callback=_check_key,
            help="Only the pitches of this scale sound: TONIC[:MODE], e.g. D:minor, G, F#:dorian.",
        ),
    ] = None,
    pitch_range: Annotated[
        str | None,
        typer.Option(callback=_check_range, help="Only MIDI pitches LOW..HIGH sound, e.g. 55:84."),
    ] = None,
    max_polyphony: Annotated[
        int | None, typer.Option(min=1, help="At most this many pitches sound at once.")
    ] = None,
    meter: Annotated[
        str | None,
        typer.Option(
            help="Time signature of the pieces, e.g. 6/8 (default: the training data's most "
            "common); written into the MIDI."
        ),
    ] = None,
    primer: Annotated[
        Path | None,
        typer.Option(help="Start from this MIDI/ABC file (its first tune, on the model's grid)."),
    ] = None,
    variations: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="With --primer: K pieces from the primer; a latent model (music-vae) decodes "
            "K points around the primer's code, other families continue it K times.",
        ),
    ] = None,
    keep_primer: Annotated[
        bool,
        typer.Option(
            "--keep-primer/--strip-primer",
            help="Keep the primer's bars at the start of the output.",
        ),
    ] = True,
    out: Annotated[Path, typer.Option(help="Folder for the files.")] = Path("out"),
    png: Annotated[
        bool, typer.Option("--png", help="A piano-roll picture beside each file.")
    ] = False,
    wav: Annotated[
        bool, typer.Option("--wav", help="Audio beside each file (needs FluidSynth).")
    ] = False,
    tempo: Annotated[
        float | None,
        typer.Option(
            min=20.0,
            max=400.0,
            help="Beats per minute of the MIDI and audio (default: the primer's, else 120).",
        ),
    ] = None,
    program: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=127,
            help="General MIDI instrument: 0 piano, 40 violin, 73 flute, … (default: the "
            "primer's, else 0).",
        ),
    ] = None,
    window: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Attention models (transformer): frames kept in the cache; any --steps then "
            "runs in bounded memory (default: the model's own, 256 unless trained otherwise).",
        ),
    ] = None,
    tracking_uri: Annotated[
        str | None,
        typer.Option(help="MLflow tracking URI (else MLFLOW_TRACKING_URI, else ./mlflow.db)."),
    ] = None,
) -> None:
    """Generate pieces from a trained model; files are named <out>/<model>-s<seed>-<i>.mid.

    --model-uri takes models:/NAME/VERSION, models:/NAME@ALIAS, runs:/RUN_ID/PATH or a model
    folder.
    """
    from mg.generation.generate import GenerateOptions
    from mg.generation.generate import generate as generate_music
    from mg.generation.sampling import SamplingOptions

    if variations is not None:
        if primer is None:
            raise typer.BadParameter("--variations needs --primer (the piece to vary)")
        num = variations
    sampling = SamplingOptions(
        steps, num, seed, temperature, top_p, key, pitch_range, max_polyphony, meter=meter
    )
    options = GenerateOptions(sampling, primer, keep_primer, out, png, wav, tracking_uri)
    quiet_mlflow()
    with one_line_errors(), _progress_bar() as progress:
        result = generate_music(
            model_uri,
            replace(options, progress=progress, tempo_bpm=tempo, program=program, window=window),
        )
    _report(result, out)


@contextmanager
def _progress_bar() -> Iterator[Callable[[int, int], None] | None]:
    """A bar of model steps on a terminal; nothing in logs and CI."""
    if not show_progress():
        yield None
        return
    bars: list = []

    def advance(done: int, total: int) -> None:
        if not bars:
            bars.append(typer.progressbar(length=total, label="sampling", file=sys.stderr))
            bars[0].__enter__()
        bars[0].update(done)

    try:
        yield advance
    finally:
        if bars:
            bars[0].__exit__(None, None, None)


def _report(result: GenerateResult, out: Path) -> None:
    for path in result.files:
        typer.echo(str(path))
    pieces = len(result.pieces)
    summary = f"{pieces} piece(s) from {result.source.uri} ({result.family}) in {out}"
    summary += f", sampled in {result.seconds:.2f} s"
    if result.primer_steps:
        summary += f", after a primer of {result.primer_steps} {_unit(result)}"
    taken = {"tempo": f"{result.tempo_bpm:g} BPM", "program": f"program {result.program}"}
    if result.from_primer:
        summary += f"; the primer's {' and '.join(taken[name] for name in result.from_primer)}"
    typer.echo(summary)
    if result.parsed is not None:
        share = result.parsed / max(pieces, 1)
        typer.echo(f"{result.parsed} of {pieces} generated tunes parse as ABC ({share:.0%})")


def _unit(result: GenerateResult) -> str:
    return "characters" if result.parsed is not None else "steps"
