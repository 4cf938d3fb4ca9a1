"""Segments of T steps that start on the piece's real bar lines; the last one padded or dropped."""

from __future__ import annotations

import numpy as np

from mg.representation import Meter, TimeSignature, segment_notes
from mg.representation.grid import Grid
from mg.representation.segment import segment_starts

GRID = Grid(steps_per_beat=2, beats_per_bar=2, bars=4)  # nominal bar 4 steps, T = 16


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


def test_a_tail_under_one_bar_is_dropped_and_counted():
    segments = segment_notes(numbered(16 + 3), GRID)  # 3 steps < one bar of 4
    assert segments.notes.shape[0] == 1 and (segments.padded, segments.dropped) == (0, 1)


def test_a_piece_shorter_than_a_bar_gives_no_segment_but_a_count():
    segments = segment_notes(numbered(3), GRID)
    assert segments.notes.shape == (0, 16, 5, 3) and segments.dropped == 1


def test_segments_start_on_the_bar_lines_of_three_four():
    # 3/4 at 2 steps per quarter: bars of 6 steps; T = 16 holds two whole bars and a part
    meter = Meter.constant(TimeSignature(3, 4))
    starts, dropped = segment_starts(40, meter, GRID)
    assert starts == [0, 12, 24] and dropped == 0
    segments = segment_notes(numbered(40), GRID, meter)
    assert segments.starts == (0, 12, 24) and segments.padded == 0  # 24 + 16 = 40
    np.testing.assert_array_equal(segments.notes[1], numbered(40)[12:28])  # bar 3 seen again


def test_a_change_of_meter_starts_a_bar():
    meter = Meter(((0, TimeSignature(3, 4)), (18, TimeSignature(4, 4))))  # 3 bars of 6, then 8
    lines = meter.bar_lines(40, GRID.steps_per_beat)
    assert lines.tolist() == [0, 6, 12, 18, 26, 34]
    assert segment_starts(40, meter, GRID)[0] == [0, 12, 26]


def test_one_meter_starts_each_segment_on_the_last_of_its_bar_lines_inside():
    # a single meter's starts are worked out from its bar (no list of bar lines): the same as
    # the last of the bar lines inside each segment, or the segment's end when none is
    def from_lines(steps: int, meter: Meter, grid: Grid) -> list[int]:
        length, lines = grid.segment_steps, meter.bar_lines(steps + grid.segment_steps, 2)
        starts = [0]
        while starts[-1] + length < steps:
            end = starts[-1] + length
            inside = lines[(lines > starts[-1]) & (lines <= end)]
            starts.append(int(inside[-1]) if len(inside) else end)
        return starts

    for numerator in range(1, 17):
        for denominator in (1, 2, 4, 8, 16):
            meter = Meter.constant(TimeSignature(numerator, denominator))
            for steps in range(0, 90):
                starts, dropped = segment_starts(steps, meter, GRID)
                expected = from_lines(steps, meter, GRID)
                assert starts == expected[: len(starts)] and len(expected) - len(starts) == dropped
