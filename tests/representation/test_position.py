"""The position matrix: stored as an index within the bar, expanded losslessly to γ × 3."""

from __future__ import annotations

import numpy as np

from mg.representation import position_index, position_matrix
from mg.representation.grid import Grid


def test_index_counts_steps_within_the_bar(grid):
    index = position_index(40, grid)
    assert index.dtype == np.int8
    assert index[: grid.gamma].tolist() == list(range(grid.gamma))
    assert index[grid.gamma] == 0 and index[-1] == 39 % grid.gamma
    assert position_index(3, grid, first_step=grid.gamma - 1).tolist() == [grid.gamma - 1, 0, 1]


def test_matrix_expands_and_indexes_back_losslessly(grid):
    index = position_index(3 * grid.segment_steps, grid).reshape(3, grid.segment_steps)
    matrix = position_matrix(index, grid.gamma)
    assert matrix.shape == (3, grid.segment_steps, grid.gamma, 3) and matrix.dtype == np.uint8
    assert np.all(matrix.sum(axis=-2) == 1)  # one-hot in each of the 3 columns
    for column in range(3):
        np.testing.assert_array_equal(matrix[..., column].argmax(axis=-1), index)


def test_another_bar_length_has_its_own_gamma():
    grid = Grid(steps_per_beat=3, beats_per_bar=3)
    matrix = position_matrix(position_index(20, grid), grid.gamma)
    assert matrix.shape == (20, 9, 3)
    assert matrix[9, 0, 0] == 1 and matrix[8, 8, 2] == 1
