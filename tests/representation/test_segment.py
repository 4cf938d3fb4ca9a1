"""Segments of T steps: the last partial one padded or dropped, and either counted."""

from __future__ import annotations

import numpy as np
import pytest

from mg.representation import segment_notes
from mg.representation.grid import Grid

GRID = Grid(steps_per_beat=2, beats_per_bar=2, bars=4)  # γ = 4, T = 16


def numbered(steps: int) -> np.ndarray:
    """A note matrix whose every step is recognisable (velocity = step + 1)."""
    notes = np.zeros((steps, 5, 3), dtype=np.uint8)
    notes[:, 2] = np.stack([np.ones(steps), np.ones(steps), np.arange(1, steps + 1)], axis=-1)
    return notes


def test_whole_segments_are_neither_padded_nor_dropped():
    segments = segment_notes(numbered(32), GRID)
    assert segments.notes.shape == (2, 16, 5, 3) and (segments.padded, segments.dropped) == (0, 0)
    np.testing.assert_array_equal(segments.notes.reshape(32, 5, 3), numbered(32))


def test_a_partial_last_segment_is_padded_with_silence_and_counted():
    segments = segment_notes(numbered(16 + 6), GRID)
    assert segments.notes.shape[0] == 2 and (segments.padded, segments.dropped) == (1, 0)
    np.testing.assert_array_equal(segments.notes[1, :6], numbered(22)[16:])
    assert not segments.notes[1, 6:].any()


def test_a_partial_segment_shorter_than_min_bars_is_dropped_and_counted():
    segments = segment_notes(numbered(16 + 3), GRID, min_bars=1)  # 3 steps < one bar of 4
    assert segments.notes.shape[0] == 1 and (segments.padded, segments.dropped) == (0, 1)
    segments = segment_notes(numbered(16 + 7), GRID, min_bars=2)
    assert segments.notes.shape[0] == 1 and segments.dropped == 1


def test_drop_mode_drops_the_partial_segment():
    segments = segment_notes(numbered(16 + 15), GRID, last="drop")
    assert segments.notes.shape[0] == 1 and (segments.padded, segments.dropped) == (0, 1)


def test_a_piece_shorter_than_a_bar_gives_no_segment_but_a_count():
    segments = segment_notes(numbered(3), GRID)
    assert segments.notes.shape == (0, 16, 5, 3) and segments.dropped == 1


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="pad"):
        segment_notes(numbered(4), GRID, last="wrap")
