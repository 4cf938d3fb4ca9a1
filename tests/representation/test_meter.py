"""Meter from the music: time signatures and their changes, the pickup before bar 1, triplets."""

from __future__ import annotations

import numpy as np
import pytest
import symusic

from mg.data.corpus import music21_corpus_dir
from mg.representation import (
    Meter,
    TimeSignature,
    detect_format,
    notes_to_midi_bytes,
    position_codes,
    read_bytes,
    read_file,
)
from mg.representation.grid import Grid

JIG = """X:1
T:A jig with a pickup
M:6/8
L:1/8
K:D
A|d2d fed|B2B BAB|d2e f2d|e3 e2:|
"""


GRID = Grid()  # 4 steps per quarter


def onset_steps(notes: np.ndarray) -> list[int]:
    return np.flatnonzero(notes[..., 1].any(axis=1)).tolist()


@pytest.fixture
def where(positions):
    """(step within the beat, beat within the bar, meter) of `steps` of a piece."""

    def at(piece, grid: Grid, steps: list[int]) -> list[tuple[int, int, str]]:
        return positions(position_codes(piece.meter, grid, len(piece.notes))[steps], grid)

    return at


def test_a_six_eight_tune_with_a_pickup_has_its_downbeats_at_zero(where):
    grid = GRID
    piece = read_bytes(JIG.encode(), "jig.abc", grid).pieces[0]
    assert piece.meter == Meter.constant("6/8") and piece.lead == 10  # a 12-step bar, pickup 2
    onsets = onset_steps(piece.notes)
    assert onsets[0] == 10 and where(piece, grid, [10]) == [(4, 1, "6/8")]  # last eighth
    downbeats = [s for s in onsets if s % 12 == 0]
    assert downbeats == list(range(12, 12 * 9, 12))  # d B d e, twice: abc2midi plays the repeat
    assert all(p == (0, 0, "6/8") for p in where(piece, grid, downbeats))
    assert where(piece, grid, [18, 30]) == [(0, 1, "6/8"), (0, 1, "6/8")]  # f, B: beat 2
    assert piece.bars(grid.steps_per_beat) == 8


def test_a_midi_change_from_three_four_to_four_four_moves_the_bar_lines(where):
    grid = GRID
    score = symusic.Score(480)
    score.time_signatures.append(symusic.TimeSignature(0, 3, 4))
    score.time_signatures.append(symusic.TimeSignature(2 * 1440, 4, 4))  # after two 3/4 bars
    track = symusic.Track(name="t", program=0)
    for i, tick in enumerate([0, 480, 960, 1440, 2880, 3840, 4800]):
        track.notes.append(symusic.Note(tick, 240, 60 + i, 90))
    score.tracks.append(track)
    piece = read_bytes(score.dumps_midi(), "change.mid", grid).pieces[0]
    assert piece.meter == Meter(((0, TimeSignature(3, 4)), (24, TimeSignature(4, 4))))
    assert piece.meter.bar_lines(len(piece.notes), grid.steps_per_beat).tolist() == [0, 12, 24, 40]
    assert where(piece, grid, onset_steps(piece.notes)) == [
        (0, 0, "3/4"), (0, 1, "3/4"), (0, 2, "3/4"), (0, 0, "3/4"),
        (0, 0, "4/4"), (0, 2, "4/4"), (0, 0, "4/4"),
    ]  # fmt: skip
    again = read_bytes(notes_to_midi_bytes(piece.notes, grid, meter=piece.meter), "x.mid", grid)
    assert again.pieces[0].meter == piece.meter  # decoding writes the time signatures back


def test_a_musicxml_chorale_with_a_pickup_starts_its_first_full_bar_on_a_bar_line(where):
    grid = GRID
    piece = read_file(music21_corpus_dir() / "bach" / "bwv66.6.mxl", grid).pieces[0]
    assert piece.meter == Meter.constant("4/4") and piece.lead == 12  # a one-quarter pickup
    first = onset_steps(piece.notes)[0]
    assert first == 12 and where(piece, grid, [first, 16]) == [(0, 3, "4/4"), (0, 0, "4/4")]
    assert piece.bars(grid.steps_per_beat) == 9


def test_bwv27_6_reads_as_musicxml_whatever_its_zip_holds():
    grid = GRID
    path = music21_corpus_dir() / "bach" / "bwv27.6.mxl"
    data = path.read_bytes()
    assert b"X:" in data[:4096] and b"K:" in data  # what once made it sniff as ABC
    assert detect_format(data, path.name) == "musicxml"
    piece = read_file(path, grid).pieces[0]
    assert [str(s) for s in piece.meter.signatures()] == ["4/4", "3/2"]


TRIPLETS = """X:1
T:triplets
M:2/4
L:1/8
K:C
(3cde (3fga|(3gfe d2|]
"""


def test_triplets_on_the_twelve_step_grid_round_trip_to_the_same_notes():
    grid = Grid(steps_per_beat=12)
    piece = read_bytes(TRIPLETS.encode(), "triplets.abc", grid).pieces[0]
    onsets = onset_steps(piece.notes)
    assert onsets == [0, 4, 8, 12, 16, 20, 24, 28, 32, 36]  # every triplet eighth on the grid
    midi = notes_to_midi_bytes(piece.notes, grid, meter=piece.meter)
    again = read_bytes(midi, "triplets.mid", grid).pieces[0]
    np.testing.assert_array_equal(again.notes, piece.notes)
    coarse = read_bytes(TRIPLETS.encode(), "triplets.abc", Grid()).pieces[0]
    assert onset_steps(coarse.notes) != [s // 3 for s in onsets]  # 4 steps cannot hold them


ENDINGS = """X:1
T:A jig with a pickup, first and second endings and a short first ending
M:6/8
L:1/8
K:G
D|:GAB AGE|GAB d2B|1 AGE D2:|2 AGE G2 d||
|:gfe dBG|ABA D2d|1 gfe dBG:|2 AGF G3|]
"""


def test_a_jig_with_endings_has_its_downbeats_where_the_written_bar_lines_fall(where):
    """abc2midi plays D | GAB AGE | GAB d2B | AGE D2 (a bar one eighth short: the repeat starts
    on a downbeat) | GAB AGE | GAB d2B | AGE G2 d | gfe dBG | ABA D2d | gfe dBG | gfe dBG |
    ABA D2d | AGF G3: the meter alone would put every bar line after the short first ending
    an eighth late. A musician counts 12 bars, the pickup not counted."""
    grid = GRID
    piece = read_bytes(ENDINGS.encode(), "endings.abc", grid).pieces[0]
    assert piece.lead == 10  # a 12-step bar, a pickup of one eighth
    downbeats = [12, 24, 36, 46, 58, 70, 82, 94, 106, 118, 130, 142]
    lines = piece.meter.bar_lines(len(piece.notes), grid.steps_per_beat).tolist()
    assert lines == [0, *downbeats]  # bar 0 holds the lead-in and the pickup
    assert set(downbeats) <= set(onset_steps(piece.notes))  # every bar starts with a note
    assert all(p == (0, 0, "6/8") for p in where(piece, grid, downbeats))
    assert where(piece, grid, [10, 42, 52]) == [(4, 1, "6/8"), (0, 1, "6/8"), (0, 1, "6/8")]
    assert piece.bars(grid.steps_per_beat) == 12
    # the short bar is a restart of 6/8 in the meter, and MIDI keeps it (a time signature
    # event off the bar lines starts a bar), so decoding and reading back gives the same meter
    assert piece.meter == Meter(((0, TimeSignature(6, 8)), (46, TimeSignature(6, 8))))
    again = read_bytes(notes_to_midi_bytes(piece.notes, grid, meter=piece.meter), "e.mid", grid)
    assert again.pieces[0].meter == piece.meter


@pytest.mark.parametrize(
    "body",
    [
        "C D :| E F || G A :|",  # after a repeat, a double bar is where the next one starts
        "C D :| E F | G A :|",  # ... else the end of the last repeat
        "C D || E F :: G A :|",  # before any repeat, a double bar is not
        "|: C D |1 E :|2 F |: G A :|",  # endings
        "C D ||  E F |] G A :|",
        # after two endings, abc2midi goes back to the tune's start a third time, skips both
        # endings and repeats nothing after that
        "C|D|1 E:|2 F|| G|A:| B|c:| d|e|",
        "C|D:| G|A|1 B:|2 c|| d|e:|",
    ],
)
def test_repeats_are_expanded_as_abc2midi_plays_them(body):
    from mg.representation.abc_bars import WHOLE, tune_bars

    text = f"X:1\nT:repeats\nM:4/4\nL:1/4\nK:C\n{body}\n"
    piece = read_bytes(text.encode(), "repeats.abc", GRID).pieces[0]
    bars = tune_bars([], text)
    played = len(piece.notes) - piece.lead  # the MIDI's length, the lead-in before C D left out
    assert played == sum(bar.length for bar in bars) * 16 / WHOLE  # whole notes -> steps


def test_a_fermata_keeps_its_written_length_so_the_bar_lines_stay_on_the_notes(where):
    text = "X:1\nT:fermata\nM:3/4\nL:1/4\nK:C\nC D HE|F G !fermata!A|B c d|\n"
    piece = read_bytes(text.encode(), "fermata.abc", GRID).pieces[0]
    assert onset_steps(piece.notes) == list(range(0, 36, 4))  # abc2midi alone doubles E and A
    assert where(piece, GRID, [12, 24]) == [(0, 0, "3/4"), (0, 0, "3/4")]


def test_a_missing_bar_line_makes_two_bars_not_one_long_one():
    text = "X:1\nT:missing bar line\nM:6/8\nL:1/8\nK:G\nA|GAB AGE \\\nGAB d2B|AGE G2:|\n"
    piece = read_bytes(text.encode(), "missing.abc", GRID).pieces[0]
    assert piece.meter == Meter.constant("6/8") and piece.lead == 10
    assert piece.bars(GRID.steps_per_beat) == 6  # (GAB AGE, GAB d2B, AGE G2) twice


def test_a_fermata_on_an_invisible_rest_is_a_sign_not_an_eighth_of_silence():
    text = "X:1\nT:pause sign\nM:2/4\nL:1/8\nK:C\nC|DEFG|ABcB Hx|cBAG|F3:|\n"
    piece = read_bytes(text.encode(), "pause.abc", GRID).pieces[0]
    assert piece.meter == Meter.constant("2/4") and piece.lead == 6
    onsets = onset_steps(piece.notes)
    assert [s for s in onsets if s % 8 == 0] == [8, 16, 24, 32, 40, 48, 56, 64]  # D A c F, twice
    assert piece.bars(GRID.steps_per_beat) == 8


@pytest.mark.parametrize(
    "events",
    [
        [],
        [(0, 3, 4)],
        [(0, 3, 4), (0, 3, 4)],
        [(0, 3, 4), (0, 6, 8)],  # two at one step: the last wins
        [(96, 3, 4), (97, 2, 4)],  # both round to one step after 0: extended back to 0
        [(0, 0, 4), (0, 3, 0)],  # broken only: 4/4
        [(0, 3, 4), (0, 0, 4)],
        [(0, 3, 4), (960, 2, 4), (960, 2, 4), (1440, 3, 4)],
        [(1440, 3, 4), (0, 2, 4)],  # out of order
        [(0, 3.0, 4), (480, np.int64(3), np.uint8(4))],
    ],
)
def test_meter_from_ticks_is_the_meter_of_its_changes_by_step(events):
    # the meter is Meter.from_steps' of the valid events, each at its rounded step
    from mg.representation.meter import meter_from_ticks

    changes = [
        (round(tick / 120), TimeSignature(int(n), int(d))) for tick, n, d in events if n and d
    ]
    meter = meter_from_ticks(events, 120.0, 4)
    assert meter == Meter.from_steps(changes, 4)
    assert meter.to_json() == Meter.from_steps(changes, 4).to_json()
