"""`mg generate` as a library function: a model URI and options in, files out.

Note families sample note matrices (`sampling.generate_notes`, all pieces in one batch) that
`mg.representation` decodes to MIDI with the model's grid (its time signature; 120 BPM).
Text families (char-rnn) sample ABC text (`text_sampling.generate_text`); each tune is written
as `.abc` and, when it parses, as `.mid`, and the share that parses is reported.

Files are named `<out>/<model>-s<seed>-<i>.<ext>` (i from 0), so the same command writes the
same names, and the same model, seed and options write the same bytes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from mg.errors import CorpusError, MgError, Reason
from mg.generation import audio
from mg.generation.sampling import SamplingOptions, generate_notes, one_thread_on_cpu
from mg.representation import notes_to_midi_bytes, read_bytes, read_file
from mg.representation.grid import Grid
from mg.tracking.model_uri import ModelSource, open_model

END_MARKER = "end"


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


@dataclass(frozen=True)
class GeneratedPiece:
    """One generated piece and the files written for it (None where not asked or not parsed)."""

    midi: Path | None
    steps: int  # frames in the MIDI (steps on the grid); characters for text
    notes: int
    png: Path | None = None
    wav: Path | None = None
    abc: Path | None = None


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
        kinds = ("abc", "midi", "png", "wav")
        return [p for piece in self.pieces for k in kinds if (p := getattr(piece, k)) is not None]


def generate(uri: str, options: GenerateOptions) -> GenerateResult:
    """Load the model `uri` names, sample `options.sampling.num` pieces, write their files."""
    if options.wav:
        audio.fluidsynth_path()  # fail before any work when FluidSynth is missing
        audio.default_soundfont()
    loaded, source = open_model(uri, options.tracking_uri)
    grid = loaded.grid or Grid()
    options.out.mkdir(parents=True, exist_ok=True)
    stem = f"{source.name}-s{options.sampling.seed}"
    if loaded.family.inputs == "text":
        return _generate_text(loaded.model, grid, source, options, stem)
    primer = read_primer(options.primer, grid) if options.primer else None
    started = time.perf_counter()
    pieces = generate_notes(
        loaded.model, grid, options.sampling, primer, _progress(options, primer)
    )
    seconds = time.perf_counter() - started
    primer_steps = 0 if primer is None else len(primer)
    if primer is not None and not options.keep_primer:
        pieces = pieces[:, primer_steps:]
    written = [
        write_piece(notes, grid, options.out / f"{stem}-{i}", options, title=f"{stem}-{i}")
        for i, notes in enumerate(pieces)
    ]
    return GenerateResult(source, loaded.family.name, written, primer_steps, seconds)


def _progress(options: GenerateOptions, primer: np.ndarray | None):
    """generate_notes' per-step callback, told the total: the primer's steps and the new ones."""
    if options.progress is None:
        return None
    report = options.progress
    total = options.sampling.steps - 1 + (0 if primer is None else len(primer))
    return lambda done: report(done, total)


def read_primer(path: Path, grid: Grid) -> np.ndarray:
    """The first tune of a MIDI/ABC/MusicXML file on the model's grid, in whole bars.

    Whole bars keep the continuation (and the output without the primer) on the bar grid: a
    trailing partial bar is dropped, and a primer shorter than a bar is padded with silence.
    """
    result = read_file(path, grid)
    notes = result.pieces[0].notes
    bars = max(1, len(notes) // grid.gamma)
    whole = np.zeros((bars * grid.gamma,) + notes.shape[1:], dtype=np.uint8)
    kept = min(len(notes), len(whole))
    whole[:kept] = notes[:kept]
    return whole


def midi_bytes(notes: np.ndarray, grid: Grid) -> bytes:
    """MIDI of a note matrix, with an `end` marker at its last step so that the file (and its
    audio) lasts exactly `len(notes)` steps even when the piece ends in silence."""
    import symusic

    score = symusic.Score.from_midi(notes_to_midi_bytes(notes, grid))
    ticks_per_step = grid.ticks_per_beat // grid.steps_per_beat
    score.markers.append(symusic.TextMeta(len(notes) * ticks_per_step, END_MARKER))
    return score.dumps_midi()


def write_piece(
    notes: np.ndarray, grid: Grid, stem: Path, options: GenerateOptions, title: str
) -> GeneratedPiece:
    """`stem`.mid, and `stem`.png / `stem`.wav when asked."""
    midi = stem.with_suffix(".mid")
    midi.write_bytes(midi_bytes(notes, grid))
    png = wav = None
    if options.png:
        from mg.representation.plot import pianoroll_png

        png = Path(pianoroll_png(notes, grid, stem.with_suffix(".png"), title=title))
    if options.wav:
        wav = audio.render_wav(midi, stem.with_suffix(".wav"))
    onsets = int((notes[..., 1] > 0).sum())
    return GeneratedPiece(midi, len(notes), onsets, png, wav)


def _generate_text(
    model, grid: Grid, source: ModelSource, options: GenerateOptions, stem: str
) -> GenerateResult:
    """char-rnn: ABC text per tune, its MIDI when it parses, and how many parse."""
    from mg.generation.text_sampling import generate_text

    primer = read_text_primer(options.primer, grid) if options.primer else None
    started = time.perf_counter()
    with one_thread_on_cpu(next(model.parameters()).device):
        texts = generate_text(model, options.sampling, primer)
    seconds = time.perf_counter() - started
    if primer is not None and not options.keep_primer:
        texts = [strip_text_primer(text, primer) for text in texts]
    pieces = [
        _write_tune(text, grid, options.out / f"{stem}-{i}", options)
        for i, text in enumerate(texts)
    ]
    parsed = sum(piece.midi is not None for piece in pieces)
    primer_chars = len(primer) if primer else 0
    return GenerateResult(source, "char-rnn", pieces, primer_chars, seconds, parsed)


def _write_tune(text: str, grid: Grid, stem: Path, options: GenerateOptions) -> GeneratedPiece:
    abc = stem.with_suffix(".abc")
    abc.write_text(text)
    try:
        notes = read_bytes(text.encode(), abc.name, grid).pieces[0].notes
    except (CorpusError, MgError):
        return GeneratedPiece(None, len(text), 0, abc=abc)
    return replace(write_piece(notes, grid, stem, options, title=stem.name), abc=abc)


def read_text_primer(path: Path, grid: Grid) -> str:
    """The ABC text of the first tune of an ABC file (char-rnn primers are text)."""
    result = read_file(path, grid)
    text = result.pieces[0].abc
    if not text:
        raise CorpusError(path, Reason.ABC_NO_TUNE, "a char-rnn primer must be an ABC file")
    return text.rstrip() + "\n"


def strip_text_primer(text: str, primer: str) -> str:
    """Keep the primer's header (up to its K: line, so the tune still parses), drop its body."""
    lines = primer.splitlines(keepends=True)
    key = next((i for i, line in enumerate(lines) if line.startswith("K:")), len(lines) - 1)
    header = "".join(lines[: key + 1])
    return header + text[len(primer) :] if text.startswith(primer) else text
