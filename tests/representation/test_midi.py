"""MIDI written byte by byte: formats 0 and 1, running status, drums, ranges, file names."""

from __future__ import annotations

import numpy as np
import pytest

from mg.errors import CorpusError, Reason
from mg.representation import ARTICULATED, PRESSED, VELOCITY, read_bytes, read_file
from mg.representation.grid import Grid

DIVISION = 96  # ticks per beat: 24 ticks per step on the default grid


def cells(notes: np.ndarray, column: int) -> set[tuple[int, int]]:
    """(step, MIDI pitch) of every nonzero cell of one column."""
    return {(int(s), int(p) + Grid().low) for s, p in np.argwhere(notes[..., column] > 0)}


def test_format_0_with_running_status(smf, grid):
    # one status byte 0x90, then data bytes only; note-off as note-on with velocity 0
    track = smf.track(
        [
            (0, [0x90, 60, 100]),
            (0, [64, 90]),
            (48, [60, 0]),
            (0, [64, 0]),
            (0, [67, 70]),
            (24, [67, 0]),
        ]
    )
    piece = read_bytes(smf.header(0, 1, DIVISION) + track, "song.mid", grid).pieces[0]
    assert cells(piece.notes, ARTICULATED) == {(0, 60), (0, 64), (2, 67)}
    assert cells(piece.notes, PRESSED) == {(0, 60), (1, 60), (0, 64), (1, 64), (2, 67)}
    assert piece.notes[0, 60 - grid.low, VELOCITY] == 100
    assert piece.notes[2, 67 - grid.low, VELOCITY] == 70
    assert piece.stats["notes"] == 3 and piece.stats["steps"] == 3


def test_format_1_merges_tracks_and_skips_the_drum_channel(smf, grid):
    conductor = smf.track([(0, [0xFF, 0x58, 4, 3, 2, 24, 8]), (0, [0xFF, 0x51, 3, 7, 0xA1, 0x20])])
    melody = smf.track(
        [(0, [0x90, 72, 80]), (96, [0x80, 72, 0]), (0, [0x90, 74, 81]), (96, [74, 0])]
    )
    bass = smf.track([(0, [0x91, 48, 60]), (192, [0x81, 48, 0])])
    drums = smf.track([(0, [0x99, 36, 100]), (24, [36, 0]), (0, [38, 100]), (24, [38, 0])])
    data = smf.header(1, 4, DIVISION) + conductor + melody + bass + drums
    piece = read_bytes(data, "song.mid", grid).pieces[0]
    assert cells(piece.notes, ARTICULATED) == {(0, 72), (4, 74), (0, 48)}
    assert {p for _, p in cells(piece.notes, PRESSED)} == {72, 74, 48}
    assert piece.stats["drum_notes"] == 2
    assert piece.time_signature == (3, 4)
    assert piece.stats["steps"] == 8


def test_running_status_within_each_track_of_format_1(smf, grid):
    first = smf.track([(0, [0x90, 60, 100]), (24, [60, 0]), (0, [62, 100]), (24, [62, 0])])
    second = smf.track([(0, [0x90, 65, 100]), (48, [65, 0])])
    data = smf.header(1, 2, DIVISION) + first + second
    piece = read_bytes(data, "song.mid", grid).pieces[0]
    assert cells(piece.notes, ARTICULATED) == {(0, 60), (1, 62), (0, 65)}


def test_off_grid_ticks_round_to_the_nearest_step(smf, grid):
    # 24 ticks per step: onset at tick 11 -> step 0, tick 13 -> step 1, lengths of 1 tick -> 1 step
    track = smf.track([(11, [0x90, 60, 100]), (1, [60, 0]), (1, [0x90, 62, 100]), (1, [62, 0])])
    piece = read_bytes(smf.header(0, 1, DIVISION) + track, "song.mid", grid).pieces[0]
    assert cells(piece.notes, ARTICULATED) == {(0, 60), (1, 62)}
    assert cells(piece.notes, PRESSED) == {(0, 60), (1, 62)}


def test_pitches_outside_the_range_are_dropped_and_counted(smf, grid):
    data = smf.header(0, 1, DIVISION) + smf.melody([10, 60, 120, 127], 24)
    piece = read_bytes(data, "song.mid", grid).pieces[0]
    assert cells(piece.notes, ARTICULATED) == {(1, 60)}
    assert piece.stats["pitches_out_of_range"] == 3
    assert piece.stats["notes"] == 1


def test_a_restart_of_a_held_pitch_is_a_new_articulation(smf, grid):
    track = smf.track([(0, [0x90, 60, 50]), (48, [60, 0]), (0, [60, 90]), (48, [60, 0])])
    piece = read_bytes(smf.header(0, 1, DIVISION) + track, "song.mid", grid).pieces[0]
    column = piece.notes[:, 60 - grid.low]
    assert column[:, PRESSED].tolist() == [1, 1, 1, 1]
    assert column[:, ARTICULATED].tolist() == [1, 0, 1, 0]
    assert column[:, VELOCITY].tolist() == [50, 50, 90, 90]


@pytest.mark.parametrize("name", ["SONG.MID", "Song.Midi", "tune.MIDI", "plain.mid"])
def test_midi_suffix_in_any_case(tmp_path, smf, grid, name):
    path = tmp_path / name
    path.write_bytes(smf.header(0, 1, DIVISION) + smf.melody([60, 62], 24))
    result = read_file(path, grid)
    assert result.pieces[0].source == str(path)
    assert cells(result.pieces[0].notes, ARTICULATED) == {(0, 60), (1, 62)}


def test_midi_is_recognised_by_content_without_a_suffix(smf, grid):
    data = smf.header(0, 1, DIVISION) + smf.melody([60], 24)
    assert read_bytes(data, "export_0001", grid).pieces[0].stats["notes"] == 1


def test_bytes_after_the_declared_tracks_and_unknown_chunks_are_ignored(smf, grid):
    alien = b"XFIH\x00\x00\x00\x03abc"
    data = smf.header(1, 1, DIVISION) + alien + smf.melody([60, 62], 24) + b"garbage!garbage!"
    piece = read_bytes(data, "song.mid", grid).pieces[0]
    assert cells(piece.notes, ARTICULATED) == {(0, 60), (1, 62)}


def test_a_piece_beyond_the_step_cap_is_truncated_and_counted(smf):
    grid = Grid(max_steps=64, absurd_steps=10_000)
    data = smf.header(0, 1, DIVISION) + smf.melody([60] * 20 + [62], 24 * 4)  # 84 steps
    piece = read_bytes(data, "long.mid", grid).pieces[0]
    assert len(piece.notes) == 64
    assert piece.stats["notes_beyond_cap"] == 5
    assert piece.stats["steps_truncated"] == 84 - 64


def test_a_piece_whose_notes_all_start_beyond_the_cap_is_too_long(smf):
    grid = Grid(max_steps=64, absurd_steps=10_000)
    track = smf.track([(24 * 100, [0x90, 60, 100]), (24, [0x80, 60, 0])])  # starts at step 100
    with pytest.raises(CorpusError) as caught:
        read_bytes(smf.header(0, 1, DIVISION) + track, "late.mid", grid)
    assert caught.value.reason == Reason.TOO_LONG and caught.value.path == "late.mid"
