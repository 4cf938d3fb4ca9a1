"""Piano-roll PNGs: a real picture, louder notes darker, articulations visible, silence allowed."""

from __future__ import annotations

import numpy as np
from matplotlib.image import imread

from mg.data.corpus import music21_corpus_dir
from mg.representation import read_file
from mg.representation.plot import pianoroll_png


def one_note(grid, velocity: int, repeat_at: int | None = None) -> np.ndarray:
    notes = np.zeros((32, grid.alpha, 3), dtype=np.uint8)
    notes[0:16, 39] = (1, 0, velocity)
    notes[0, 39, 1] = 1
    if repeat_at is not None:
        notes[repeat_at, 39, 1] = 1
    return notes


def ink(path) -> np.ndarray:
    """Darkness of each pixel of a PNG, 0 (white) to 1 (black)."""
    return 1 - imread(path)[..., :3].mean(axis=-1)


def test_a_real_piece_becomes_a_png(tmp_path, grid):
    """A Nottingham tune with its chords, as music21's corpus ships it."""
    tune = music21_corpus_dir() / "nottingham-dataset" / "reelsa-c.abc"
    piece = read_file(tune, grid).pieces[0]
    path = pianoroll_png(piece.notes, grid, tmp_path / "sub" / "roll.png", title=piece.title)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width = imread(path).shape[:2]
    assert width > height > 100


def test_louder_notes_are_darker(tmp_path, grid):
    quiet = ink(pianoroll_png(one_note(grid, 20), grid, tmp_path / "quiet.png"))
    loud = ink(pianoroll_png(one_note(grid, 127), grid, tmp_path / "loud.png"))
    assert quiet.shape == loud.shape
    difference = loud - quiet  # the same picture but for the note's colour
    assert difference.min() > -0.01 and difference.max() > 0.3


def test_a_repeated_note_is_cut_where_it_is_articulated(tmp_path, grid):
    held = ink(pianoroll_png(one_note(grid, 100), grid, tmp_path / "held.png"))
    repeated = ink(pianoroll_png(one_note(grid, 100, repeat_at=8), grid, tmp_path / "rep.png"))
    assert held.shape == repeated.shape
    assert (held - repeated).max() > 0.3  # a light cut inside the dark note


def test_silence_still_draws_the_empty_roll(tmp_path, grid):
    path = pianoroll_png(np.zeros((0, grid.alpha, 3), np.uint8), grid, tmp_path / "empty.png")
    assert imread(path).shape[0] > 100
