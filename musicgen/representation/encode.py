"""Quantise note events onto the grid: the note matrix N of shape [steps, α, 3].

Column 0 pressed (the pitch sounds during the step), column 1 articulated (a new onset at the
step; only where pressed), column 2 velocity (1..127 where pressed, 0 elsewhere). Everything is
vectorised: a piece of a few hundred notes encodes in well under a millisecond.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from mg.errors import CorpusError, Reason
from mg.representation.grid import Grid
from mg.representation.midi import NoteEvents

PRESSED, ARTICULATED, VELOCITY = 0, 1, 2


@dataclass
class EncodeStats:
    """What encoding one piece kept and dropped, by named counter."""

    notes: int = 0
    steps: int = 0
    dropped: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, int]:
        return {"notes": self.notes, "steps": self.steps, **dict(self.dropped)}


def encode_events(events: NoteEvents, grid: Grid, path: str) -> tuple[np.ndarray, EncodeStats]:
    """Note events in ticks -> note matrix [steps, α, 3] uint8, with what was dropped."""
    stats = EncodeStats()
    stats.dropped["drum_notes"] = events.drum_notes
    start, end = _quantise(events, grid, path)
    pitch, velocity = events.pitch - grid.low, events.velocity
    outside = 0
    if len(pitch) and (pitch.min() < 0 or pitch.max() >= grid.alpha):  # most files: none
        in_range = (pitch >= 0) & (pitch < grid.alpha)
        outside = len(in_range) - int(np.count_nonzero(in_range))
    stats.dropped["pitches_out_of_range"] = outside
    if outside:  # skip four copies where none is
        start, end, pitch, velocity = (
            start[in_range],
            end[in_range],
            pitch[in_range],
            velocity[in_range],
        )
    if len(start) == 0:
        raise CorpusError(
            path, Reason.NO_NOTES_IN_RANGE, f"no notes within MIDI {grid.low}..{grid.high}"
        )
    start, end, pitch, velocity, steps = _cap(start, end, pitch, velocity, grid, stats, path)
    stats.notes = len(start)
    notes = notes_from_spans(start, end, pitch, velocity, steps, grid.alpha)
    stats.steps = len(notes)
    return notes, stats


def _quantise(events: NoteEvents, grid: Grid, path: str) -> tuple[np.ndarray, np.ndarray]:
    """Ticks -> nearest steps; every note at least one step; refuse absurd lengths first."""
    ticks_per_step = events.ticks_per_beat / grid.steps_per_beat
    start = np.rint(events.start / ticks_per_step).astype(np.int64)
    end = np.maximum(np.rint(events.end / ticks_per_step).astype(np.int64), start + 1)
    last = int(end.max())
    if last > grid.absurd_steps:
        raise CorpusError(
            path, Reason.TOO_LONG, f"absurd length: {last} steps (limit {grid.absurd_steps})"
        )
    return start, end


def _cap(start, end, pitch, velocity, grid: Grid, stats: EncodeStats, path: str):
    """Cut the piece at grid.max_steps, counting the notes and steps lost; returns its steps."""
    last = int(end.max())
    stats.dropped["steps_truncated"] = max(0, last - grid.max_steps)
    stats.dropped["notes_beyond_cap"] = 0
    if last <= grid.max_steps:
        return start, end, pitch, velocity, last
    keep = start < grid.max_steps
    if not keep.any():
        raise CorpusError(
            path, Reason.TOO_LONG, f"every note starts after the cap of {grid.max_steps} steps"
        )
    stats.dropped["notes_beyond_cap"] = len(keep) - int(np.count_nonzero(keep))
    end = np.minimum(end[keep], grid.max_steps)
    return start[keep], end, pitch[keep], velocity[keep], int(end.max())


def notes_from_spans(
    start: np.ndarray,
    end: np.ndarray,
    pitch: np.ndarray,
    velocity: np.ndarray,
    steps: int,
    alpha: int,
) -> np.ndarray:
    """Fill the note matrix from half-open step spans [start, end) of pitch indices 0..α-1.

    A pressed step takes the velocity of the latest onset of its pitch at or before it (the
    loudest, when several notes start together). The spans are read as onsets, each holding its
    pitch from its step to the next onset of the pitch or to the end of the spans that reach
    it, whichever comes first; so the work and memory are bounded by the pressed cells (≤ steps
    × α), never by the sum of the note lengths, and the untouched rest of the steps × α plane
    costs nothing. The cells are written by their flat index in the matrix, each onset's run
    of cells one row (3·α) apart.
    """
    if len(pitch) and (
        pitch.min() < 0 or pitch.max() >= alpha or start.min() < 0 or end.max() > steps
    ):  # the cells are written by flat index: outside the matrix one would land in another
        raise ValueError(f"spans outside the {steps} x {alpha} matrix")
    row = steps + 1  # keys pitch * row + step never cross from one pitch into the next
    key = pitch * row + start
    # the order of equal keys does not matter (their loudest is taken), so the keys may go
    # through numpy's radix sort where they fit 16 bits (α = 88: pieces of up to 743 steps),
    # in about half the time of argsort's
    if alpha * row <= 1 << 16:
        order = key.astype(np.uint16).argsort(kind="stable")
    else:
        order = key.argsort()
    key_start = key[order]
    reach = np.maximum.accumulate((key - start + end)[order])  # the furthest end so far
    velocity = velocity[order]
    new_key = key_start[1:] != key_start[:-1]
    if new_key.all():  # no two notes start together on one pitch: most files
        onset_key, onset_velocity, until = key_start, velocity, reach
    else:
        last_of_key = _flag_edges(new_key, at_end=True)
        first_of_key = np.flatnonzero(_flag_edges(new_key, at_end=False))
        onset_key, until = key_start[last_of_key], reach[last_of_key]
        onset_velocity = np.maximum.reduceat(velocity, first_of_key)
    np.minimum(until[:-1], onset_key[1:], out=until[:-1])  # held until the next onset
    lengths = until - onset_key
    width = 3 * alpha  # one step of the matrix, flat
    onset_pitch, onset_step = np.divmod(onset_key, row)
    onset_at = onset_step * width + 3 * onset_pitch
    cell_at = (onset_at - (lengths.cumsum() - lengths) * width).repeat(lengths)
    cell_at += np.arange(0, len(cell_at) * width, width)
    notes = np.zeros((steps, alpha, 3), dtype=np.uint8)
    flat = notes.reshape(-1)
    flat[PRESSED:][cell_at] = 1
    flat[VELOCITY:][cell_at] = onset_velocity.astype(np.uint8).repeat(lengths)
    flat[ARTICULATED:][onset_at] = onset_velocity > 0
    return notes


def _flag_edges(flags: np.ndarray, at_end: bool) -> np.ndarray:
    """`flags` with one True added at the end (or at the start): np.append without its overhead."""
    out = np.empty(len(flags) + 1, dtype=bool)
    if at_end:
        out[:-1], out[-1] = flags, True
    else:
        out[0], out[1:] = True, flags
    return out
