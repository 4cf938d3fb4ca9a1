"""Decoding note matrices to MIDI: notes ≥ 1 tick, no overlapping same-pitch notes, and back."""

from __future__ import annotations

import io

import numpy as np
import pretty_midi
import pytest

from mg.representation import (
    ARTICULATED,
    PRESSED,
    VELOCITY,
    note_spans,
    notes_to_midi_bytes,
    read_bytes,
    read_file,
    write_midi,
)
from mg.representation.encode import notes_from_spans


def adversarial(steps: int, alpha: int, seed: int) -> np.ndarray:
    """What a sampler may produce: any bits, articulation without press, velocity 0 anywhere."""
    rng = np.random.default_rng(seed)
    notes = rng.integers(0, 2, (steps, alpha, 3)).astype(np.uint8)
    notes[..., VELOCITY] = rng.integers(0, 128, (steps, alpha))
    return notes


def canonical(steps: int, alpha: int, seed: int) -> np.ndarray:
    """A matrix as encoding makes it, from random (overlapping) note spans."""
    rng = np.random.default_rng(seed)
    count = 3 * steps
    start = rng.integers(0, steps, count)
    end = np.minimum(start + rng.integers(1, 9, count), steps)
    pitch, velocity = rng.integers(0, alpha, count), rng.integers(1, 128, count)
    return notes_from_spans(start, end, pitch, velocity, steps, alpha)


@pytest.mark.parametrize("seed", range(5))
def test_every_note_lasts_a_tick_and_same_pitches_never_overlap(grid, seed):
    notes = adversarial(64, grid.alpha, seed)
    midi = pretty_midi.PrettyMIDI(io.BytesIO(notes_to_midi_bytes(notes, grid)))
    decoded = midi.instruments[0].notes
    assert len(decoded) == len(note_spans(notes)[0]) > 0
    by_pitch: dict[int, list] = {}
    for note in decoded:
        assert midi.time_to_tick(note.end) - midi.time_to_tick(note.start) >= 1
        by_pitch.setdefault(note.pitch, []).append(note)
    for same in by_pitch.values():
        same.sort(key=lambda n: n.start)
        assert all(a.end <= b.start + 1e-9 for a, b in zip(same, same[1:], strict=False))


def test_articulation_without_press_is_ignored_and_a_press_without_it_starts_a_note(grid):
    notes = np.zeros((6, grid.alpha, 3), dtype=np.uint8)
    notes[0, 10, ARTICULATED] = 1  # not pressed: nothing
    notes[2:5, 20, PRESSED] = 1  # pressed, never articulated: one note of 3 steps
    notes[2:5, 20, VELOCITY] = 70
    start, end, pitch, velocity = note_spans(notes)
    assert (start.tolist(), end.tolist(), pitch.tolist(), velocity.tolist()) == (
        [2],
        [5],
        [20],
        [70],
    )


@pytest.mark.parametrize("seed", range(5))
def test_decode_then_encode_gives_the_same_matrix(grid, seed):
    notes = canonical(96, grid.alpha, seed)
    again = read_bytes(notes_to_midi_bytes(notes, grid), "x.mid", grid).pieces[0].notes
    np.testing.assert_array_equal(again, notes[: len(again)])
    assert not notes[len(again) :].any()  # only trailing silence can be lost


def test_decoding_is_deterministic_and_written_files_read_back(tmp_path, grid):
    notes = canonical(48, grid.alpha, seed=7)
    assert notes_to_midi_bytes(notes, grid) == notes_to_midi_bytes(notes.copy(), grid)
    path = write_midi(notes, tmp_path / "out.mid", grid)
    np.testing.assert_array_equal(read_file(path, grid).pieces[0].notes, notes[:48])
