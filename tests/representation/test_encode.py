"""notes_from_spans against a cell-by-cell reading of its rule, on spans that overlap, touch,
restart a held pitch and start together."""

from __future__ import annotations

import numpy as np
import pytest

from mg.representation import ARTICULATED, PRESSED, VELOCITY
from mg.representation.encode import notes_from_spans


def by_the_rule(start, end, pitch, velocity, steps: int, alpha: int) -> np.ndarray:
    """Every cell on its own: pressed where a span covers it, the velocity of the latest onset
    of its pitch at or before it (the loudest of those starting together), articulated at an
    onset whose velocity is above 0; velocities stored as uint8 stores them."""
    notes = np.zeros((steps, alpha, 3), dtype=np.uint8)
    onsets: dict[tuple[int, int], int] = {}
    for s, p, v in zip(start.tolist(), pitch.tolist(), velocity.tolist(), strict=True):
        onsets[p, s] = max(onsets.get((p, s), v), v)
    for s, e, p in zip(start.tolist(), end.tolist(), pitch.tolist(), strict=True):
        notes[s:e, p, PRESSED] = 1
    for (p, s), v in onsets.items():
        notes[s, p, ARTICULATED] = v > 0
    for p in range(alpha):
        latest = None
        for step in range(steps):
            latest = onsets.get((p, step), latest)
            if notes[step, p, PRESSED]:
                notes[step, p, VELOCITY] = np.array(latest).astype(np.uint8)
    return notes


@pytest.mark.parametrize("seed", range(40))
def test_the_matrix_follows_the_rule_cell_by_cell(seed):
    rng = np.random.default_rng(seed)
    steps, alpha = int(rng.integers(1, 40)), int(rng.integers(1, 8))
    count = int(rng.integers(1, 3 * steps + 2))
    start = rng.integers(0, steps, count)
    end = np.minimum(start + rng.integers(1, int(rng.integers(2, 12)), count), steps)
    pitch = rng.integers(0, alpha, count)
    velocity = rng.integers(*((1, 128), (0, 3), (-300, 600))[seed % 3], count)
    notes = notes_from_spans(start, end, pitch, velocity, steps, alpha)
    assert notes.dtype == np.uint8 and notes.flags.c_contiguous
    np.testing.assert_array_equal(notes, by_the_rule(start, end, pitch, velocity, steps, alpha))


def test_a_short_note_inside_a_long_one_gives_the_rest_of_it_its_velocity():
    # [0, 10) at 50, [2, 4) at 90 and [2, 3) at 70 on one pitch, [5, 6) at 30 on another
    notes = notes_from_spans(
        np.array([0, 2, 2, 5]), np.array([10, 4, 3, 6]), np.array([1, 1, 1, 0]),
        np.array([50, 90, 70, 30]), 12, 2,
    )  # fmt: skip
    assert notes[:, 1, PRESSED].tolist() == [1] * 10 + [0, 0]
    assert notes[:, 1, VELOCITY].tolist() == [50, 50] + [90] * 8 + [0, 0]
    assert notes[:, 1, ARTICULATED].tolist() == [1, 0, 1] + [0] * 9
    assert notes[:, 0].tolist()[5] == [1, 1, 30] and notes[:, 0].sum() == 32


@pytest.mark.parametrize("steps", [743, 744, 2000])  # keys of 16 bits and more (α = 88)
def test_long_pieces_follow_the_rule_too(steps):
    rng = np.random.default_rng(steps)
    count = 3 * steps
    start = rng.integers(0, steps, count)
    end = np.minimum(start + rng.integers(1, 30, count), steps)
    pitch, velocity = rng.integers(0, 88, count), rng.integers(0, 128, count)
    notes = notes_from_spans(start, end, pitch, velocity, steps, 88)
    np.testing.assert_array_equal(notes, by_the_rule(start, end, pitch, velocity, steps, 88))


@pytest.mark.parametrize(
    ("start", "end", "pitch"),
    [([0], [3], [2]), ([0], [3], [-1]), ([-1], [2], [0]), ([1], [5], [0])],  # 2 pitches, 4 steps
)
def test_spans_outside_the_matrix_are_refused_not_written_elsewhere(start, end, pitch):
    # the cells are written by flat index, where a pitch past α would land on the next step
    with pytest.raises(ValueError, match="outside the 4 x 2 matrix"):
        notes_from_spans(np.array(start), np.array(end), np.array(pitch), np.array([80]), 4, 2)
