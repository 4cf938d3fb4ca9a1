"""`mg generate` as a library function: a model URI and options in, files out.

The model's input kind (`mg.kinds`) samples all pieces in one batch and writes them: note
families write MIDI with the model's grid (its time signature); text families (char-rnn) write
each ABC tune as `.abc` and, when it parses, as `.mid`, and the share that parses is reported.
The MIDI's tempo and General MIDI program are the options', else the primer's where its file
says (a MIDI's first tempo and first pitched track's program, an ABC tune's Q:), else 120 BPM
and piano.

Files are named `<out>/<model>-s<seed>-<i>.<ext>` (i from 0), so the same command writes the
same names, and the same model, seed and options write the same bytes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mg.errors import MgError, first_line
from mg.generation import audio
from mg.generation.sampling import SamplingOptions, with_meter
from mg.generation.writing import DEFAULT_TEMPO, GeneratedPiece, Outputs
from mg.kinds import InputKind, kind_of
from mg.models.saving import LoadedModel
from mg.representation.grid import Grid
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
    tempo_bpm: float | None = None  # None: the primer's, else DEFAULT_TEMPO
    program: int | None = None  # General MIDI program; None: the primer's, else 0 (piano)
    window: int | None = None  # frames an attention model keeps in its cache (None: trained)


@dataclass(frozen=True)
class GenerateResult:
    source: ModelSource
    family: str
    pieces: list[GeneratedPiece]
    primer_steps: int  # frames of the primer that the model read (0 without one)
    seconds: float  # sampling time, files excluded
    parsed: int | None = None  # text families: tunes that parse to music
    tempo_bpm: float = DEFAULT_TEMPO  # of the MIDI written
    program: int = 0
    from_primer: tuple[str, ...] = ()  # which of "tempo", "program" came from the primer

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
    sampled = sample_pieces(
        loaded, options.sampling, options.primer, options.keep_primer, options.progress
    )
    stem = f"{source.name}-s{options.sampling.seed}"
    tempo, program = sampled.tempo(options.tempo_bpm), sampled.program(options.program)
    outputs = Outputs(options.png, options.wav, tempo, program)
    written = sampled.write(options.out, lambda i: f"{stem}-{i}", outputs)
    return GenerateResult(
        source,
        loaded.family.name,
        written,
        sampled.primer_steps,
        sampled.seconds,
        sampled.kind.parsed(written),
        tempo,
        program,
        sampled.from_primer(options.tempo_bpm, options.program),
    )


@dataclass(frozen=True)
class Sampled:
    """Pieces as the model's input kind gives them (note matrices, ABC text), before any file."""

    kind: InputKind
    grid: Grid  # the model's, with the pieces' meter
    pieces: Any
    primer_steps: int  # frames of the primer that the model read (0 without one)
    seconds: float  # sampling time alone
    primer_tempo: float | None = None  # BPM, where the primer's file says
    primer_program: int | None = None  # General MIDI program of the primer's first track

    def tempo(self, asked: float | None) -> float:
        """The MIDI's tempo: the one asked for, else the primer's, else DEFAULT_TEMPO."""
        return next((t for t in (asked, self.primer_tempo) if t is not None), DEFAULT_TEMPO)

    def program(self, asked: int | None) -> int:
        """The MIDI's program: the one asked for, else the primer's, else 0 (piano)."""
        return next((p for p in (asked, self.primer_program) if p is not None), 0)

    def write(
        self, out: Path, name: Callable[[int], str], outputs: Outputs
    ) -> list[GeneratedPiece]:
        """Each piece's files in `out` (made if missing), piece i under the stem `name(i)`."""
        out.mkdir(parents=True, exist_ok=True)
        return [
            self.kind.write(piece, self.grid, out / name(i), outputs)
            for i, piece in enumerate(self.pieces)
        ]

    def from_primer(self, tempo: float | None, program: int | None) -> tuple[str, ...]:
        """Which of the two the primer gave (not asked for, and its file said)."""
        tempo_taken = tempo is None and self.primer_tempo is not None
        program_taken = program is None and self.primer_program is not None
        return ("tempo",) * tempo_taken + ("program",) * program_taken


def sample_pieces(
    loaded: LoadedModel,
    sampling: SamplingOptions,
    primer: Path | None = None,
    keep_primer: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Sampled:
    """The one sampling flow of `mg generate` and the served model (mg.tracking.answer): the
    meter onto the grid, the primer read on it, one batch sampled, the primer stripped when not
    kept. ValueError for options the sampler refuses, naming the option as its CLI flag
    (`--meter: ...`); the kind's errors (CorpusError, MgError) for a primer it cannot read."""
    kind = kind_of(loaded.family)
    try:
        grid = with_meter(loaded.grid, sampling.meter)
    except ValueError as exc:
        raise ValueError(f"--meter: {first_line(exc)}") from None
    start = kind.read_primer(primer, grid) if primer else None
    primer_steps = 0 if start is None else len(start)
    sound = primer_sound(primer, grid) if primer else (None, None)
    started = time.perf_counter()
    pieces = kind.sample(
        loaded.model, grid, sampling, start, _progress(progress, sampling, primer_steps)
    )
    seconds = time.perf_counter() - started
    if start is not None and not keep_primer:
        pieces = kind.strip_primer(pieces, start)
    return Sampled(kind, grid, pieces, primer_steps, seconds, *sound)


def primer_sound(path: Path, grid: Grid) -> tuple[float | None, int | None]:
    """The tempo (BPM) and General MIDI program of a primer file's first tune, where the file
    says; (None, None) when it cannot tell (the kind has read the primer already)."""
    from mg.representation import read_file

    try:
        piece = read_file(path, grid).pieces[0]
    except (MgError, OSError):  # a text primer that renders no notes, say
        return None, None
    return piece.tempo_bpm, piece.program


def _set_window(model: Any, family: str, window: int) -> None:
    """Bound the attention cache of a model that keeps one (its config has a `window`)."""
    if not hasattr(model.config, "window"):
        raise ValueError(f"--window: a {family} model keeps no attention window")
    if window < 1:
        raise ValueError(f"--window must be at least 1, got {window}")
    model.config.window = window


def _progress(
    report: Callable[[int, int], None] | None, sampling: SamplingOptions, primer_steps: int
) -> Callable[[int], Any] | None:
    """The sampler's per-step callback, told the total of model steps: one per new step, from
    silence or from the primer's last step (the primer's other steps are read first)."""
    if report is None:
        return None
    total = sampling.steps + max(primer_steps - 1, 0)
    return lambda done: report(done, total)
