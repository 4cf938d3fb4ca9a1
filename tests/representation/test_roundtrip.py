"""Real corpora: encode → decode → encode is identical, and a second parser agrees with ours.

The second parsers are independent of symusic (which ours uses): pretty_midi (on mido) for MIDI
and for the MIDI that abc2midi renders from ABC, music21's own score for the Bach chorales.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pretty_midi
import pytest

from mg.data.corpus import bach_chorales, music21_corpus_dir
from mg.representation import (
    ARTICULATED,
    PRESSED,
    Piece,
    notes_to_midi_bytes,
    read_bytes,
    read_file,
)
from mg.representation import abc as abc_format
from mg.representation.grid import Grid


def assert_round_trip(piece: Piece, grid: Grid) -> None:
    """decode(notes) read back is the very same matrix, every column and step, in the same meter."""
    midi = notes_to_midi_bytes(piece.notes, grid, meter=piece.meter)
    again = read_bytes(midi, "decoded.mid", grid).pieces[0]
    assert again.notes.shape == piece.notes.shape, piece.source
    np.testing.assert_array_equal(again.notes, piece.notes, err_msg=f"{piece.source} {piece.tune}")
    assert again.meter == piece.meter, piece.source


def onset_cells(piece: Piece) -> set[tuple[int, int]]:
    """Onsets from the music's first step: the silent lead-in before a pickup left out."""
    music = piece.notes[piece.lead :, :, ARTICULATED]
    return {(int(s), int(p)) for s, p in np.argwhere(music > 0)}


def pressed_roll(piece: Piece) -> np.ndarray:
    return piece.notes[piece.lead :, :, PRESSED] > 0


def pretty_midi_view(midi: pretty_midi.PrettyMIDI, grid: Grid, steps: int):
    """Onset cells, note count and pressed roll of the in-range pitched notes, per pretty_midi."""
    ticks_per_step = midi.resolution / grid.steps_per_beat
    onsets, count = set(), 0
    pressed = np.zeros((steps, grid.alpha), dtype=bool)
    for note in (n for inst in midi.instruments if not inst.is_drum for n in inst.notes):
        if not grid.low <= note.pitch <= grid.high:
            continue
        start = round(midi.time_to_tick(note.start) / ticks_per_step)
        end = max(round(midi.time_to_tick(note.end) / ticks_per_step), start + 1)
        onsets.add((start, note.pitch - grid.low))
        pressed[start:end, note.pitch - grid.low] = True
        count += 1
    return onsets, count, pressed


@pytest.mark.filterwarnings("ignore:Tempo, Key or Time signature:RuntimeWarning")  # pretty_midi
def test_nottingham_midi_round_trips_and_matches_pretty_midi(nottingham, grid):
    files = sorted((nottingham / "MIDI").rglob("*.mid"))[::40]  # ~80 files, melody and chords
    assert len(files) > 70
    for path in files:
        piece = read_file(path, grid).pieces[0]
        onsets, count, pressed = pretty_midi_view(
            pretty_midi.PrettyMIDI(str(path)), grid, len(piece.notes) - piece.lead
        )
        assert onset_cells(piece) == onsets, path
        assert piece.stats["notes"] == count, path
        np.testing.assert_array_equal(pressed_roll(piece), pressed, err_msg=str(path))
        assert_round_trip(piece, grid)


def test_nottingham_abc_every_tune_parses_and_round_trips(nottingham, grid):
    files = sorted((nottingham / "ABC_cleaned").glob("*.abc"))
    assert len(files) == 14
    for path in files:  # ~1,000 tunes
        result = read_file(path, grid)
        assert result.failures == [], path
        declared = len(re.findall(r"^X:", path.read_text(encoding="latin-1"), re.MULTILINE))
        assert [p.tune for p in result.pieces] == list(range(declared)), path
        for piece in result.pieces:
            assert piece.abc.startswith("X:") and piece.stats["notes"] > 0
            assert_round_trip(piece, grid)


def test_ryans_mammoth_abc_matches_pretty_midi_on_the_rendered_midi(grid):
    files = sorted((music21_corpus_dir() / "ryansMammoth").glob("*.abc"))[::25]
    assert len(files) > 40
    for path in files:
        result = read_file(path, grid)
        text = abc_format.decode_text(path.read_bytes())
        header, tunes = abc_format.split_tunes(text)
        for piece in result.pieces:
            midi, _ = abc_format.abc_to_midi_bytes(header, tunes[piece.tune], str(path))
            pm = pretty_midi.PrettyMIDI(io.BytesIO(midi))
            onsets, count, pressed = pretty_midi_view(pm, grid, len(piece.notes) - piece.lead)
            assert onset_cells(piece) == onsets, path
            assert piece.stats["notes"] == count, path
            np.testing.assert_array_equal(pressed_roll(piece), pressed)
            assert_round_trip(piece, grid)


@pytest.mark.parametrize("index", [0, 250])  # 250 has repeats
def test_bach_chorale_matches_music21_score_and_round_trips(index, grid):
    import music21

    path = bach_chorales()[index]
    piece = read_file(path, grid).pieces[0]
    score = music21.converter.parse(path).expandRepeats().stripTies()  # as its MIDI export does
    onsets, count = set(), 0
    for note in score.flatten().notes:
        step = round(float(note.getOffsetInHierarchy(score)) * grid.steps_per_beat)
        onsets.update((step, p.midi - grid.low) for p in note.pitches)
        count += len(note.pitches)
    assert onset_cells(piece) == onsets
    assert piece.stats["notes"] == count
    assert piece.time_signature is not None
    assert_round_trip(piece, grid)
