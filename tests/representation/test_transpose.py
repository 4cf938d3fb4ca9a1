"""One transposition for rolls and note matrices: what moves, what is dropped, nothing else."""

from __future__ import annotations

import numpy as np
import pytest

from mg.representation.transpose import lost_pitches, shift_pitches


@pytest.mark.parametrize("shift", [-90, -3, -1, 0, 1, 3, 90])
def test_kept_and_lost_pitches_add_up_to_the_piece(shift):
    rng = np.random.default_rng(shift + 100)
    notes = (rng.random((16, 88, 3)) < 0.2).astype(np.uint8)
    moved = shift_pitches(notes, shift)
    assert moved.shape == notes.shape and moved.dtype == notes.dtype
    assert moved.sum() + lost_pitches(notes, shift).sum() == notes.sum()
    kept = notes.copy()
    if shift > 0:
        kept[:, max(88 - shift, 0) :] = 0
    elif shift < 0:
        kept[:, : min(-shift, 88)] = 0
    np.testing.assert_array_equal(shift_pitches(moved, -shift), kept)  # back, less what left


def test_a_roll_moves_up_and_down_by_whole_pitches():
    roll = np.zeros((2, 88), np.uint8)
    roll[0, 40], roll[1, 0] = 1, 1
    up = shift_pitches(roll, 2)
    assert up[0, 42] == 1 and up[1, 2] == 1 and up.sum() == 2
    down = shift_pitches(roll, -1)
    assert down[0, 39] == 1 and down.sum() == 1  # pitch 0 left the range
    assert lost_pitches(roll, -1).sum() == 1


def test_a_shift_into_a_used_array_is_the_shift_into_a_fresh_one():
    # stacked_columns reuses one buffer for every transposition: what the last one left must go
    from mg.representation.context import context_matrix, transposed_context

    rng = np.random.default_rng(3)
    notes = (rng.random((30, 12, 3)) < 0.3).astype(np.uint8)
    context = context_matrix(notes, 4)
    used, moved = np.full_like(notes, 7), np.full(context.shape, 0.5, context.dtype)
    for shift in (0, 3, -2, 11, -11, 12, -13, 1):
        shifted = shift_pitches(notes, shift, used)
        assert shifted is used and np.array_equal(used, shift_pitches(notes, shift))
        found = transposed_context(context, shifted, shift, 4, moved)
        expected = transposed_context(context, shift_pitches(notes, shift), shift, 4)
        assert found is moved and np.array_equal(moved.view(np.uint16), expected.view(np.uint16))
