"""Cutting a piece into T-step segments that start on bar lines."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mg.representation.grid import Grid


@dataclass(frozen=True)
class Segments:
    notes: np.ndarray  # [n, T, α, 3] uint8
    padded: int  # 1 when the last segment was padded with silence
    dropped: int  # 1 when a last partial segment was dropped


def segment_notes(notes: np.ndarray, grid: Grid, last: str = "pad", min_bars: int = 1) -> Segments:
    """Split [steps, α, 3] into [n, T, α, 3].

    A last partial segment is padded with silence (`last="pad"`) when it holds at least
    `min_bars` bars, and dropped otherwise or with `last="drop"`; either is reported.
    """
    if last not in ("pad", "drop"):
        raise ValueError(f"last must be 'pad' or 'drop', got {last!r}")
    length = grid.segment_steps
    full, rest = divmod(len(notes), length)
    pieces = [notes[i * length : (i + 1) * length] for i in range(full)]
    padded = dropped = 0
    if rest:
        if last == "pad" and rest >= min_bars * grid.gamma:
            tail = np.zeros((length,) + notes.shape[1:], dtype=notes.dtype)
            tail[:rest] = notes[full * length :]
            pieces.append(tail)
            padded = 1
        else:
            dropped = 1
    stacked = np.stack(pieces) if pieces else np.zeros((0, length) + notes.shape[1:], notes.dtype)
    return Segments(stacked, padded, dropped)
