"""The causal context: step t never sees a later step, and ingest and generation agree bit for bit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mg.representation import (
    CONTEXT_DTYPE,
    PRESSED,
    context_kernel,
    context_matrix,
    context_of_windows,
    kernel_spec,
    read_file,
)
from mg.representation.context import context_normaliser
from mg.representation.grid import Grid


def random_notes(steps: int, alpha: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    notes = np.zeros((steps, alpha, 3), dtype=np.uint8)
    pressed = rng.random((steps, alpha)) < 0.15
    notes[..., 0] = pressed
    notes[..., 1] = pressed & (rng.random((steps, alpha)) < 0.5)
    notes[..., 2] = np.where(pressed, rng.integers(1, 128, (steps, alpha)), 0)
    return notes


@pytest.fixture(scope="module")
def real_notes(folk_midi, grid) -> np.ndarray:
    return read_file(folk_midi / "oneills-001.mid", grid).pieces[0].notes


def test_context_at_t_ignores_every_later_step(real_notes, grid):
    context = context_matrix(real_notes, grid.steps_per_beat)
    rng = np.random.default_rng(0)
    for t in [0, 1, grid.steps_per_beat, 37, len(real_notes) - 2]:
        changed = real_notes.copy()
        changed[t + 1 :] = random_notes(len(real_notes) - t - 1, grid.alpha, int(rng.integers(1e6)))
        again = context_matrix(changed, grid.steps_per_beat)
        np.testing.assert_array_equal(again[: t + 1], context[: t + 1], err_msg=f"t={t}")
        assert not np.array_equal(again[t + 1 :], context[t + 1 :])  # the change was seen later


def test_one_window_at_a_time_equals_the_whole_piece(grid):
    # generation computes C_t from its last ε+1 frames; ingest from the whole piece
    notes = random_notes(40, grid.alpha, seed=1)
    whole = context_matrix(notes, grid.steps_per_beat)
    history = np.concatenate([np.zeros((grid.steps_per_beat, grid.alpha, 3), np.uint8), notes])
    for t in range(len(notes)):
        window = history[t : t + grid.steps_per_beat + 1]
        np.testing.assert_array_equal(context_of_windows(window), whole[t])
    batched = np.stack([history[t : t + grid.steps_per_beat + 1] for t in (3, 9)])
    np.testing.assert_array_equal(context_of_windows(batched), whole[[3, 9]])


@pytest.mark.parametrize("steps_per_beat", [2, 4])
def test_a_single_note_reaches_eps_steps_ahead_and_one_pitch_aside(steps_per_beat):
    notes = np.zeros((20, 10, 3), dtype=np.uint8)
    notes[5, 4] = (1, 1, 127)
    context = context_matrix(notes, steps_per_beat).astype(np.float32)
    touched = np.argwhere(context[..., PRESSED] > 0)
    assert {int(s) for s, _ in touched} == set(range(5, 6 + steps_per_beat))
    assert {int(p) for _, p in touched} == {3, 4, 5}
    centre = context[5 : 6 + steps_per_beat, 4, PRESSED]
    assert np.all(np.diff(centre) < 0)  # the newest step weighs most
    np.testing.assert_allclose(context[5:, 3, PRESSED], context[5:, 4, PRESSED] / 2, rtol=1e-3)
    np.testing.assert_array_equal(context[..., 0], context[..., 2])  # velocity 127 = full


def test_context_is_compact_bounded_and_its_kernel_is_recorded(grid):
    notes = np.zeros((8, grid.alpha, 3), dtype=np.uint8)
    notes[:, :] = (1, 1, 127)  # everything pressed, loudest: the upper bound
    context = context_matrix(notes, grid.steps_per_beat)
    assert context.dtype == CONTEXT_DTYPE and context.shape == notes.shape
    assert float(context.max()) == 1.0 and float(context.min()) >= 0.0
    spec = json.loads(json.dumps(kernel_spec(grid)))
    assert spec["weights"] == context_kernel(grid.steps_per_beat)[:, 0, :].astype(int).tolist()
    assert np.array(spec["weights"]).shape == (3, grid.steps_per_beat + 1)
    assert "causal" in spec["window"]


def test_context_of_another_grid_uses_its_own_window():
    grid = Grid(steps_per_beat=2)
    notes = random_notes(12, grid.alpha, seed=3)
    assert context_kernel(2).shape == (3, 3, 3)
    assert context_matrix(notes, grid.steps_per_beat).shape == notes.shape


def reference_context(notes: np.ndarray, steps_per_beat: int) -> np.ndarray:
    """The kernel written out as the manifest records it: one window per step, every weight."""
    kernel = context_kernel(steps_per_beat)  # [pitch offset, column, step oldest→newest]
    values = np.concatenate(
        [np.zeros((steps_per_beat,) + notes.shape[1:]), notes.astype(np.float64)]
    )
    padded = np.pad(values, [(0, 0), (1, 1), (0, 0)])
    alpha, out = notes.shape[1], np.zeros(notes.shape, dtype=np.float64)
    for t in range(len(notes)):
        window = padded[t : t + steps_per_beat + 1]  # [ε+1, α+2, 3]
        for offset in range(3):
            for k in range(steps_per_beat + 1):
                out[t] += window[k, offset : offset + alpha] * kernel[offset, :, k]
    return out / context_normaliser(steps_per_beat)


@pytest.mark.parametrize("steps_per_beat", [1, 4, 12])
def test_the_separable_kernel_equals_the_written_out_one(real_notes, steps_per_beat):
    notes = np.concatenate([real_notes[:300], random_notes(60, real_notes.shape[1], seed=5)])
    fast = context_matrix(notes, steps_per_beat)
    reference = reference_context(notes, steps_per_beat)
    np.testing.assert_allclose(fast.astype(np.float64), reference, rtol=1e-3, atol=1e-6)
    # float16 of the exact sums: the same bits as rounding the reference once
    np.testing.assert_array_equal(fast, reference.astype(np.float32).astype(CONTEXT_DTYPE))
    short = context_matrix(notes[:2], steps_per_beat)  # shorter than the window
    np.testing.assert_array_equal(short, fast[:2])


def test_float_frames_give_the_context_of_the_same_integers():
    notes = random_notes(30, 20, seed=7)
    window = notes[-5:]
    np.testing.assert_array_equal(
        context_of_windows(window.astype(np.float32)), context_of_windows(window)
    )
    np.testing.assert_array_equal(
        context_matrix(notes.astype(np.float64), 4), context_matrix(notes, 4)
    )


def test_a_transposed_context_is_the_context_of_the_transposed_notes_bit_for_bit():
    from mg.representation.context import transposed_context
    from mg.representation.transpose import shift_pitches

    rng = np.random.default_rng(17)
    for alpha, eps in ((88, 4), (88, 2), (5, 4), (3, 1)):
        notes = np.zeros((40, alpha, 3), np.uint8)
        pressed = rng.random((40, alpha)) < 0.3
        notes[..., 0] = pressed
        notes[..., 1] = pressed & (rng.random((40, alpha)) < 0.5)
        notes[..., 2] = np.where(pressed, rng.integers(0, 256, (40, alpha)), 0)
        context = context_matrix(notes, eps)
        for shift in range(-alpha - 1, alpha + 2):
            shifted = shift_pitches(notes, shift)
            moved = transposed_context(context, shifted, shift, eps)
            expected = context_matrix(shifted, eps)
            assert np.array_equal(moved.view(np.uint16), expected.view(np.uint16)), shift


def test_where_no_note_is_near_an_edge_the_transposed_context_is_the_context_moved():
    # context_moves: no note within one pitch of either edge, before the shift or after it;
    # every span and shift it allows gives the context of the shifted notes, moved, bit for bit
    from mg.representation.context import context_moves, pitch_span
    from mg.representation.transpose import shift_pitches

    rng = np.random.default_rng(29)
    allowed = 0
    for low, high in ((0, 0), (1, 2), (1, 87), (2, 86), (0, 5), (83, 88), (30, 60), (86, 87)):
        notes = np.zeros((33, 88, 3), np.uint8)
        notes[:, low:high] = random_notes(33, high - low, int(rng.integers(1e6)))
        notes[5, low:high, 0] = 1  # the band's every pitch sounds at least once
        span = pitch_span(notes)
        assert span == ((low, high) if high > low else (0, 0))
        context = context_matrix(notes, 4, span)
        assert np.array_equal(context.view(np.uint16), context_matrix(notes, 4).view(np.uint16))
        for shift in range(-90, 91):
            moves = context_moves(span, shift, 88)
            inside = high <= low or (min(low, low + shift) >= 1 and max(high, high + shift) <= 87)
            assert moves == inside, (low, high, shift)
            if moves:
                allowed += 1
                expected = context_matrix(shift_pitches(notes, shift), 4)
                moved = shift_pitches(context, shift)
                assert np.array_equal(moved.view(np.uint16), expected.view(np.uint16))
    assert allowed > 100


def test_the_context_of_notes_silent_from_a_step_on_sums_only_up_to_eps_steps_after_it():
    # a piece padded with silence: its context from ε steps after the music on is 0 anyway
    rng = np.random.default_rng(31)
    for steps, music in ((40, 30), (40, 37), (40, 40), (40, 0), (40, 55), (3, 1), (0, 0)):
        notes = np.zeros((steps, 88, 3), np.uint8)
        notes[:music] = random_notes(steps, 88, int(rng.integers(1e6)))[:music]
        for eps in (1, 4):
            expected = context_matrix(notes, eps)
            found = context_matrix(notes, eps, silent_from=music)
            assert np.array_equal(found.view(np.uint16), expected.view(np.uint16)), (music, eps)


def test_the_context_over_the_pitches_used_equals_the_one_over_all_88():
    # context_matrix sums unsigned notes over their pitch band only; every band, at either edge,
    # none at all and all of them give the bits of the sums over every pitch
    from mg.representation.context import _context_sums

    rng = np.random.default_rng(23)
    for low, high in ((0, 0), (40, 41), (0, 1), (87, 88), (0, 88), (1, 87), (20, 50), (86, 88)):
        for dtype in (np.uint8, np.bool_, np.uint16):
            notes = np.zeros((37, 88, 3), dtype=np.uint8)
            notes[:, low:high] = random_notes(37, high - low, int(rng.integers(1e6)))
            notes = notes.astype(dtype)
            full = _context_sums(notes, 4, notes.dtype)
            banded = context_matrix(notes, 4)
            assert banded.dtype == CONTEXT_DTYPE and banded.shape == notes.shape
            assert np.array_equal(banded.view(np.uint16), full.view(np.uint16)), (low, high)
    assert context_matrix(np.zeros((0, 88, 3), np.uint8), 4).shape == (0, 88, 3)
