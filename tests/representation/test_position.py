"""P_t: step within the beat, beat within the bar and the meter, from the real bar lines."""

from __future__ import annotations

import numpy as np

from mg.representation import Meter, TimeSignature, position_codes, position_index, position_matrix
from mg.representation.grid import Grid


def test_four_four_counts_sixteenths_within_quarter_beats(grid, positions):
    codes = position_codes(Meter(), grid, 20)
    assert codes.dtype == np.int16 and codes.shape == (20, 3)
    assert positions(codes[[0, 1, 4, 15, 16]], grid) == [
        (0, 0, "4/4"), (1, 0, "4/4"), (0, 1, "4/4"), (3, 3, "4/4"), (0, 0, "4/4"),
    ]  # fmt: skip


def test_six_eight_beats_in_dotted_quarters(grid, positions):
    codes = position_codes(Meter.constant("6/8"), grid, 24)  # bars of 12 steps, beats of 6
    assert positions(codes[[0, 2, 5, 6, 11, 12]], grid) == [
        (0, 0, "6/8"), (2, 0, "6/8"), (5, 0, "6/8"), (0, 1, "6/8"), (5, 1, "6/8"), (0, 0, "6/8"),
    ]  # fmt: skip


def test_a_change_of_meter_restarts_the_bar(grid, positions):
    meter = Meter(((0, TimeSignature(3, 4)), (24, TimeSignature(4, 4))))
    codes = position_codes(meter, grid, 30, start=20)  # the start offset is honoured
    assert positions(codes[[0, 3, 4, 8]], grid) == [
        (0, 2, "3/4"), (3, 2, "3/4"), (0, 0, "4/4"), (0, 1, "4/4"),
    ]  # fmt: skip


def test_a_fixed_grid_ignores_the_meter(positions):
    grid = Grid(meter="fixed")
    codes = position_codes(Meter.constant("6/8"), grid, 17)
    assert positions(codes[[12, 16]], grid) == [(0, 3, "4/4"), (0, 0, "4/4")]
    np.testing.assert_array_equal(position_index(17, grid), codes)


def test_matrix_is_a_multi_hot_of_three_and_indexes_back(grid):
    codes = position_codes(Meter.constant("9/8"), grid, 2 * 64).reshape(2, 64, 3)
    matrix = position_matrix(codes, grid.position_width)
    assert matrix.shape == (2, 64, grid.position_width, 3) and matrix.dtype == np.uint8
    assert np.all(matrix.sum(axis=-2) == 3)  # three ones in each of the 3 columns
    back = np.sort(np.argwhere(matrix[..., 0])[:, -1].reshape(2, 64, 3), axis=-1)
    np.testing.assert_array_equal(back, codes)


def test_the_width_grows_with_the_steps_per_quarter():
    assert Grid().position_width == 40 and Grid(steps_per_beat=12).position_width == 64
