"""The statistics that say whether music sounds like its corpus: harmony, mean voices and the
median note length, each checked against hand-written frames and against real music whose
answer the test computes on its own (music21's chord symbols and its own ABC parser)."""

from __future__ import annotations

import numpy as np
import pytest
from music21 import converter, harmony

from mg.data.corpus import bach_chorales, music21_corpus_dir
from mg.evaluation.music_stats import mean_stats, note_lengths, piece_stats
from mg.representation import read_bytes
from mg.representation.grid import Grid

GRID = Grid()
C4 = 60


def frames(*chords: tuple[int, ...], steps: int = 4) -> np.ndarray:
    """Each chord (MIDI pitches) held for `steps` steps, articulated at its first step."""
    notes = np.zeros((steps * len(chords), GRID.alpha, 3), np.uint8)
    for i, chord in enumerate(chords):
        for pitch in chord:
            notes[i * steps : (i + 1) * steps, pitch - GRID.low] = (1, 0, 80)
            notes[i * steps, pitch - GRID.low, 1] = 1
    return notes


def test_a_c_major_triad_fits_a_chord():
    assert piece_stats(frames((C4, C4 + 4, C4 + 7)), GRID)["harmony"] == 1.0


def test_a_chromatic_cluster_fits_no_chord():
    assert piece_stats(frames((C4, C4 + 1, C4 + 2)), GRID)["harmony"] == 0.0


def test_harmony_is_the_share_of_sounding_frames():
    """G7 and a melody note fit; C-D-E-G (an added ninth) lies in no triad or seventh chord;
    silence does not count."""
    g7, melody, add9, rest = (55, 59, 62, 65), (C4 + 2,), (C4, C4 + 2, C4 + 4, C4 + 7), ()
    stats = piece_stats(frames(g7, rest, melody, add9, g7), GRID)
    assert stats["harmony"] == 3 / 4
    assert stats["polyphony"] == (4 + 1 + 4 + 4) / 4  # mean voices over sounding frames


def chord_sets() -> list[set[int]]:
    """Pitch-class sets of the triads and seventh chords on every root, from music21."""
    kinds = ("", "m", "dim", "+", "7", "maj7", "m7", "m7b5", "dim7")
    roots = ("C", "C#", "D", "E-", "E", "F", "F#", "G", "A-", "A", "B-", "B")
    return [set(harmony.ChordSymbol(root + kind).pitchClasses) for root in roots for kind in kinds]


def test_harmony_of_a_bach_chorale_matches_music21s_chords():
    path = bach_chorales(limit=1)[0]
    notes = read_bytes(path.read_bytes(), path.name, GRID).pieces[0].notes
    chords = chord_sets()
    sounding = [set(((np.flatnonzero(f[:, 0]) + GRID.low) % 12).tolist()) for f in notes]
    sounding = [pcs for pcs in sounding if pcs]
    expected = np.mean([any(pcs <= chord for chord in chords) for pcs in sounding])
    assert piece_stats(notes, GRID)["harmony"] == pytest.approx(expected)
    assert 0.5 < expected < 1.0  # four voices: mostly chords, with passing notes


def test_a_re_articulated_pitch_is_two_notes():
    notes = frames((C4,), steps=8)
    notes[3, C4 - GRID.low, 1] = 1  # struck again at step 3
    notes[6, C4 + 7 - GRID.low] = (1, 0, 80)  # a one-step note without an articulation mark
    assert sorted(note_lengths(notes).tolist()) == [1, 3, 5]


def test_note_lengths_of_a_folk_tune_match_music21s_own_abc_reading():
    """The Ranting Highlandman (Aird's Airs, book 1) through abc2midi, against music21's
    own ABC parser with its repeats written out: the same notes, the same lengths."""
    text = (music21_corpus_dir() / "airdsAirs" / "book1.abc").read_text(errors="replace")
    tune = next("X:" + t for t in text.split("\nX:") if "T:The Ranting Highlandman" in t)
    notes = read_bytes(tune.encode(), "ranting.abc", GRID).pieces[0].notes
    score = converter.parse(tune, format="abc").expandRepeats()
    expected = [
        note.quarterLength * GRID.steps_per_beat
        for note in score.flatten().notes
        if note.tie is None or note.tie.type == "start"
    ]
    assert sorted(note_lengths(notes).tolist()) == sorted(expected)
    assert piece_stats(notes, GRID)["median_note_length"] == np.median(expected)


def test_every_statistic_is_averaged_over_pieces():
    pieces = [frames((C4, C4 + 4, C4 + 7)), frames((C4, C4 + 1, C4 + 2), steps=2)]
    stats = mean_stats(pieces, GRID)
    assert stats["harmony"] == 0.5
    assert stats["median_note_length"] == 3.0
