"""Generated music to files: a note matrix to `.mid` (+ `.png`, `.wav`), an ABC tune to `.abc`
(+ the files of its notes when it parses). `mg generate` and training's samples both write here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from mg.errors import MgError
from mg.generation import audio
from mg.representation import notes_to_midi_bytes, read_bytes
from mg.representation.decode import DEFAULT_TEMPO
from mg.representation.grid import Grid

END_MARKER = "end"


@dataclass(frozen=True)
class Outputs:
    """Which files go beside each piece's `.mid`."""

    png: bool = False
    wav: bool = False
    tempo_bpm: float = DEFAULT_TEMPO  # written into the MIDI (and so the audio's speed)
    program: int = 0  # General MIDI program the MIDI track plays (0: acoustic grand piano)


@dataclass(frozen=True)
class GeneratedPiece:
    """One generated piece and the files written for it (None where not asked or not parsed)."""

    midi: Path | None
    steps: int  # frames in the MIDI (steps on the grid); characters for text
    notes: int
    png: Path | None = None
    wav: Path | None = None
    abc: Path | None = None

    @property
    def files(self) -> list[Path]:
        kinds = ("abc", "midi", "png", "wav")
        return [path for kind in kinds if (path := getattr(self, kind)) is not None]


def midi_bytes(
    notes: np.ndarray, grid: Grid, tempo_bpm: float = DEFAULT_TEMPO, program: int = 0
) -> bytes:
    """MIDI of a note matrix, with an `end` marker at its last step so that the file (and its
    audio) lasts exactly `len(notes)` steps even when the piece ends in silence."""
    import symusic

    score = symusic.Score.from_midi(notes_to_midi_bytes(notes, grid, tempo_bpm, program))
    ticks_per_step = grid.ticks_per_beat // grid.steps_per_beat
    score.markers.append(symusic.TextMeta(len(notes) * ticks_per_step, END_MARKER))
    return score.dumps_midi()


def write_notes(notes: np.ndarray, grid: Grid, stem: Path, outputs: Outputs) -> GeneratedPiece:
    """`stem`.mid, and `stem`.png / `stem`.wav when asked."""
    midi = named(stem, ".mid")
    midi.write_bytes(midi_bytes(notes, grid, outputs.tempo_bpm, outputs.program))
    png = wav = None
    if outputs.png:
        from mg.representation.plot import pianoroll_png

        png = Path(pianoroll_png(notes, grid, named(stem, ".png"), title=stem.name))
    if outputs.wav:
        wav = audio.render_wav(midi, named(stem, ".wav"))
    onsets = int((notes[..., 1] > 0).sum())
    return GeneratedPiece(midi, len(notes), onsets, png, wav)


def write_tune(text: str, grid: Grid, stem: Path, outputs: Outputs) -> GeneratedPiece:
    """`stem`.abc, and the files of its notes when the tune parses."""
    abc = named(stem, ".abc")
    abc.write_text(text)
    notes = tune_notes(text, abc.name, grid)
    if notes is None:
        return GeneratedPiece(None, len(text), 0, abc=abc)
    return replace(write_notes(notes, grid, stem, outputs), abc=abc)


def tune_notes(text: str, name: str, grid: Grid) -> np.ndarray | None:
    """The notes of an ABC tune, read exactly as ingest reads an ABC file; None when it does
    not parse (a tune the model got wrong)."""
    try:
        pieces = read_bytes(text.encode(), name, grid).pieces
    except MgError:
        return None
    return pieces[0].notes if pieces else None


def named(stem: Path, suffix: str) -> Path:
    """`stem` + `suffix`: a dot in the model's name (`folk.v2-s1-0`) is not a suffix to replace."""
    return stem.with_name(stem.name + suffix)
