"""Note matrices back to MIDI: the output path of generation.

Every note lasts at least one step (so at least one tick) and notes of the same pitch never
overlap: a note ends where its pitch stops sounding or is articulated again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mg.representation.encode import ARTICULATED, PRESSED, VELOCITY
from mg.representation.grid import Grid
from mg.representation.meter import Meter, grid_meter

DEFAULT_TEMPO = 120.0  # beats (quarter notes) per minute of a MIDI written without one asked


def note_spans(notes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """[steps, α, 3] -> (start, end, pitch index, velocity) of every note, sorted by pitch then start."""
    steps, alpha, _ = notes.shape
    pressed = np.zeros((alpha, steps + 1), dtype=bool)
    pressed[:, :steps] = notes[..., PRESSED].T > 0
    previous = np.zeros_like(pressed)
    previous[:, 1:] = pressed[:, :-1]
    articulated = np.zeros_like(pressed)
    articulated[:, :steps] = notes[..., ARTICULATED].T > 0
    onsets = pressed & (articulated | ~previous)
    stops = ~pressed | onsets  # a note ends at the next silent step or the next onset
    onset_flat, stop_flat = np.flatnonzero(onsets), np.flatnonzero(stops)
    end_flat = stop_flat[np.searchsorted(stop_flat, onset_flat, side="right")]
    pitch, start = np.divmod(onset_flat, steps + 1)
    end = end_flat - pitch * (steps + 1)
    velocity = notes[start, pitch, VELOCITY].astype(np.int64)
    return start, end, pitch, np.where(velocity > 0, velocity, 64)


def notes_to_midi_bytes(
    notes: np.ndarray,
    grid: Grid,
    tempo_bpm: float = DEFAULT_TEMPO,
    program: int = 0,
    meter: Meter | None = None,
) -> bytes:
    """Encode a note matrix as a one-track Standard MIDI File (deterministic bytes).

    The time signatures written are `meter`'s, else the grid's common meter (ζ/4 on a fixed
    grid): step 0 is a bar line, as it is for every piece `mg.representation` reads.
    """
    import symusic

    tpq = grid.ticks_per_beat
    ticks_per_step = tpq // grid.steps_per_beat
    score = symusic.Score(tpq)
    score.tempos.append(symusic.Tempo(0, qpm=float(tempo_bpm)))
    meter = grid_meter(meter or Meter.constant(grid.common_meter), grid)
    for step, signature in meter.changes:
        score.time_signatures.append(
            symusic.TimeSignature(step * ticks_per_step, signature.numerator, signature.denominator)
        )
    track = symusic.Track(name="mg", program=program, is_drum=False)
    start, end, pitch, velocity = note_spans(notes)
    order = np.lexsort((pitch, start))
    for i in order:
        track.notes.append(
            symusic.Note(
                int(start[i]) * ticks_per_step,
                int(end[i] - start[i]) * ticks_per_step,
                int(pitch[i]) + grid.low,
                int(velocity[i]),
            )
        )
    score.tracks.append(track)
    return score.dumps_midi()


def write_midi(
    notes: np.ndarray,
    path: str | Path,
    grid: Grid,
    tempo_bpm: float = DEFAULT_TEMPO,
    meter: Meter | None = None,
) -> Path:
    """Write a note matrix to `path` as MIDI; returns the path."""
    path = Path(path)
    path.write_bytes(notes_to_midi_bytes(notes, grid, tempo_bpm, meter=meter))
    return path
