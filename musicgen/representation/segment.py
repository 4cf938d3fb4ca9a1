"""Cutting a piece into T-step segments that start on its real bar lines.

A segment holds T = ε·ζ·η steps wherever its bars fall, so the next segment starts at the last
bar line inside it: a bar that crosses a segment's end is seen again, whole, at the start of
the next (in 4/4 at the default grid the segments meet exactly, 16 bars each). The last
segment is padded with silence; it is dropped when it would add less than one bar of music.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mg.representation.grid import Grid
from mg.representation.meter import Meter, grid_meter


@dataclass(frozen=True)
class Segments:
    notes: np.ndarray  # [n, T, α, 3] uint8
    padded: int  # 1 when the last segment was padded with silence
    dropped: int  # 1 when a last partial segment was dropped
    starts: tuple[int, ...] = ()  # the piece's step where each segment starts


def segment_starts(steps: int, meter: Meter | None, grid: Grid) -> tuple[list[int], int]:
    """Start steps of the segments of a piece of `steps` steps, and 1 if a short tail was dropped."""
    length, eps = grid.segment_steps, grid.steps_per_beat
    meter = grid_meter(meter, grid)
    starts = [0]
    if len(meter.changes) == 1:  # one meter: its bar lines are the multiples of its bar
        bar = meter.first.bar_steps(eps)
        while starts[-1] + length < steps:
            end = starts[-1] + length
            line = end // bar * bar  # the last bar line inside the segment, if after its start
            starts.append(line if line > starts[-1] else end)
    else:
        lines = meter.bar_lines(steps + length, eps)
        while starts[-1] + length < steps:
            end = starts[-1] + length
            inside = lines[(lines > starts[-1]) & (lines <= end)]
            starts.append(int(inside[-1]) if len(inside) else end)
    if len(starts) > 1:
        previous_end = starts[-2] + length
        bar = _bar_at(meter, starts[-1], eps)
        if steps - previous_end < bar:
            return starts[:-1], 1
    return starts, 0


def _bar_at(meter: Meter, step: int, eps: int) -> int:
    signature = [sig for s, sig in meter.changes if s <= step][-1]
    return signature.bar_steps(eps)


def segment_notes(
    notes: np.ndarray, grid: Grid, meter: Meter | None = None, min_bars: int = 1
) -> Segments:
    """Split [steps, α, 3] into [n, T, α, 3] at the bar lines of `meter` (ζ/4 bars if None).

    A piece shorter than `min_bars` bars of ζ/4 gives no segment (reported as dropped).
    """
    length = grid.segment_steps
    if len(notes) < min_bars * grid.gamma:
        empty = np.zeros((0, length) + notes.shape[1:], notes.dtype)
        return Segments(empty, 0, 1 if len(notes) else 0, ())
    starts, dropped = segment_starts(len(notes), meter, grid)
    end = starts[-1] + length
    whole = np.zeros((max(end, len(notes)),) + notes.shape[1:], dtype=notes.dtype)
    whole[: len(notes)] = notes
    stacked = np.stack([whole[s : s + length] for s in starts])
    padded = int(end > len(notes))
    return Segments(stacked, padded, dropped, tuple(starts))
