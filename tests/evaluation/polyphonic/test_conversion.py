"""Rolls → the note family's input: onsets, the silent first frame, position, shared context."""

from __future__ import annotations

import numpy as np

from mg.evaluation.polyphonic.conversion import (
    allowed_shifts,
    collate,
    piece_arrays,
    roll_to_notes,
)
from mg.representation import context_matrix
from mg.representation.grid import Grid
from mg.representation.transpose import shift_pitches


def _roll() -> np.ndarray:
    roll = np.zeros((4, 88), np.uint8)
    roll[0:2, 39] = 1  # middle C held for two frames
    roll[3, 39] = 1  # and struck again after a rest
    roll[1, 43] = 1
    return roll


def test_articulated_marks_onsets_and_a_silent_frame_comes_first():
    notes = roll_to_notes(_roll())
    assert notes.shape == (5, 88, 3)
    assert notes[0].sum() == 0
    assert notes[1:, :, 0].tolist() == _roll().tolist()
    assert notes[1:, 39, 1].tolist() == [1, 0, 0, 1]
    assert notes[1:, 43, 1].tolist() == [0, 1, 0, 0]
    assert set(np.unique(notes[..., 2][notes[..., 0] == 1])) == {100}


def test_piece_arrays_use_the_shared_context_and_start_the_bar_at_the_first_frame(positions):
    grid = Grid(steps_per_beat=1, beats_per_bar=4)
    arrays = piece_arrays(_roll(), grid)
    beats = [beat for _, beat, _ in positions(arrays["position"], grid)]
    assert beats == [3, 0, 1, 2, 3]
    expected = context_matrix(roll_to_notes(_roll()), 1).astype(np.float32)
    assert np.array_equal(arrays["context"], expected)
    assert arrays["notes"][..., 2].max() == np.float32(100 / 127)


def test_collate_pads_and_masks_the_real_steps():
    grid = Grid(steps_per_beat=1, beats_per_bar=4)
    batch = collate([piece_arrays(_roll(), grid), piece_arrays(_roll()[:2], grid)])
    assert batch.notes.shape == (2, 5, 88, 3)
    assert batch.mask.tolist() == [[True] * 5, [True] * 3 + [False] * 2]


def test_transposition_stays_inside_the_keyboard():
    roll = np.zeros((2, 88), np.uint8)
    roll[0, 2], roll[1, 84] = 1, 1
    assert allowed_shifts(roll, 6).tolist() == [-2, -1, 0, 1, 2, 3]
    shifted = shift_pitches(roll, -2)
    assert np.flatnonzero(shifted[0]).tolist() == [0] and np.flatnonzero(shifted[1]).tolist() == [
        82
    ]
