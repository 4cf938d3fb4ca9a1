"""`mg generate` as a library function: a model URI and options in, files out.

The model's input kind (`mg.kinds`) samples all pieces in one batch and writes them: note
families write MIDI with the model's grid (its time signature; 120 BPM); text families (char-rnn)
write each ABC tune as `.abc` and, when it parses, as `.mid`, and the share that parses is
reported.

Files are named `<out>/<model>-s<seed>-<i>.<ext>` (i from 0), so the same command writes the
same names, and the same model, seed and options write the same bytes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mg.generation import audio
from mg.generation.sampling import SamplingOptions, with_meter
from mg.generation.writing import GeneratedPiece, Outputs
from mg.kinds import kind_of
from mg.tracking.model_uri import ModelSource, open_model


@dataclass(frozen=True)
class GenerateOptions:
    """What `mg generate` takes besides the URI (see the CLI contract)."""

    sampling: SamplingOptions = field(default_factory=SamplingOptions)
    primer: Path | None = None
    keep_primer: bool = True
    out: Path = Path("out")
    png: bool = False
    wav: bool = False
    tracking_uri: str | None = None
    progress: Callable[[int, int], None] | None = None  # (steps done now, steps in all)
    tempo_bpm: float = 120.0
    program: int = 0  # General MIDI program
    window: int | None = None  # frames an attention model keeps in its cache (None: trained)


@dataclass(frozen=True)
class GenerateResult:
    source: ModelSource
    family: str
    pieces: list[GeneratedPiece]
    primer_steps: int  # frames of the primer that the model read (0 without one)
    seconds: float  # sampling time, files excluded
    parsed: int | None = None  # text families: tunes that parse to music

    @property
    def files(self) -> list[Path]:
        return [path for piece in self.pieces for path in piece.files]


def generate(uri: str, options: GenerateOptions) -> GenerateResult:
    """Load the model `uri` names, sample `options.sampling.num` pieces, write their files."""
    if options.wav:
        audio.fluidsynth_path()  # fail before any work when FluidSynth is missing
        audio.default_soundfont()
    loaded, source = open_model(uri, options.tracking_uri)
    if options.window is not None:
        _set_window(loaded.model, loaded.family.name, options.window)
    kind, grid = kind_of(loaded.family), with_meter(loaded.grid, options.sampling.meter)
    options.out.mkdir(parents=True, exist_ok=True)
    stem = f"{source.name}-s{options.sampling.seed}"
    primer = kind.read_primer(options.primer, grid) if options.primer else None
    primer_steps = 0 if primer is None else len(primer)
    started = time.perf_counter()
    pieces = kind.sample(
        loaded.model, grid, options.sampling, primer, _progress(options, primer_steps)
    )
    seconds = time.perf_counter() - started
    if primer is not None and not options.keep_primer:
        pieces = kind.strip_primer(pieces, primer)
    outputs = Outputs(options.png, options.wav, options.tempo_bpm, options.program)
    written = [
        kind.write(piece, grid, options.out / f"{stem}-{i}", outputs)
        for i, piece in enumerate(pieces)
    ]
    return GenerateResult(
        source, loaded.family.name, written, primer_steps, seconds, kind.parsed(written)
    )


def _set_window(model: Any, family: str, window: int) -> None:
    """Bound the attention cache of a model that keeps one (its config has a `window`)."""
    if not hasattr(model.config, "window"):
        raise ValueError(f"--window: a {family} model keeps no attention window")
    if window < 1:
        raise ValueError(f"--window must be at least 1, got {window}")
    model.config.window = window


def _progress(options: GenerateOptions, primer_steps: int) -> Callable[[int], Any] | None:
    """The sampler's per-step callback, told the total: the primer's steps and the new ones."""
    if options.progress is None:
        return None
    report = options.progress
    total = options.sampling.steps - 1 + primer_steps
    return lambda done: report(done, total)
