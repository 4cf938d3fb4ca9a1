"""ABC files written by the tests: many tunes per file, encodings, a broken tune among good ones."""

from __future__ import annotations

import re

import numpy as np

from mg.errors import Reason
from mg.representation import ARTICULATED, read_bytes, read_file

SCALE = "X:1\nT:Scale\nM:4/4\nL:1/4\nK:C\nCDEF|\n"  # quarter notes: one every 4 steps


def onsets(notes: np.ndarray, low: int = 21) -> list[tuple[int, int]]:
    """(step, MIDI pitch) of every articulation, in time order."""
    return sorted((int(s), int(p) + low) for s, p in np.argwhere(notes[..., ARTICULATED] > 0))


def test_a_tune_becomes_its_notes_on_the_grid(grid):
    piece = read_bytes(SCALE.encode(), "scale.abc", grid).pieces[0]
    assert onsets(piece.notes) == [(0, 60), (4, 62), (8, 64), (12, 65)]
    assert piece.title == "Scale" and piece.abc == SCALE and piece.tune == 0
    assert piece.time_signature == (4, 4)


def test_one_broken_tune_keeps_the_others(tmp_path, grid):
    text = (
        "% a songbook\nL:1/4\n\n"
        "X:1\nT:First\nK:C\nCDEF|\n\n"
        "X:2\nT:Broken\nM:4/4\n\n"  # no K: field: abc2midi refuses it
        "X:3\nT:Third\nK:G\nGABc|\n"
    )
    path = tmp_path / "book.abc"
    path.write_text(text)
    result = read_file(path, grid)
    assert [(p.tune, p.title) for p in result.pieces] == [(0, "First"), (2, "Third")]
    [failure] = result.failures
    assert failure.path == str(path) and failure.reason == Reason.ABC_TUNE
    assert "tune 1 (Broken)" in failure.detail and "K:" in failure.detail
    # a line of the file within the broken tune (9..12), not of the copy that abc2midi read
    assert 9 <= int(re.search(r"line (\d+)", failure.detail)[1]) <= 12


def test_the_file_header_applies_to_every_tune(grid):
    text = "L:1/8\n\nX:1\nT:a\nK:C\nCD|\n\nX:2\nT:b\nK:C\nCD|\n"
    pieces = read_bytes(text.encode(), "eighths.abc", grid).pieces
    assert [onsets(p.notes) for p in pieces] == [[(0, 60), (2, 62)]] * 2


def test_a_header_unit_length_applies_and_a_tune_may_override_it(grid):
    # abc2midi alone ignores L: in a file header; the default 1/8 would give steps 0 and 2
    text = "L:1/4\nM:4/4\n\nX:1\nT:a\nK:C\nCD|\n\nX:2\nT:b\nL:1/8\nK:C\nCD|\n"
    pieces = read_bytes(text.encode(), "quarters.abc", grid).pieces
    assert [onsets(p.notes) for p in pieces] == [[(0, 60), (4, 62)], [(0, 60), (2, 62)]]


def test_utf8_and_latin1_give_the_same_tune(grid):
    text = "X:1\nT:Café Noël\nL:1/4\nK:D\nDEF|\n"
    utf8 = read_bytes(text.encode("utf-8"), "noel.abc", grid).pieces[0]
    latin1 = read_bytes(text.encode("latin-1"), "noel.ABC", grid).pieces[0]
    assert utf8.title == latin1.title == "Café Noël"
    np.testing.assert_array_equal(utf8.notes, latin1.notes)
    assert onsets(utf8.notes) == [(0, 62), (4, 64), (8, 66)]


def test_byte_order_mark_and_windows_line_ends(grid):
    data = (
        b"\xef\xbb\xbf" + SCALE.replace("\n", "\r\n").encode() + b"\r\nX:2\r\nT:B\r\nK:C\r\nG|\r\n"
    )
    pieces = read_bytes(data, "dos.abc", grid).pieces
    assert [p.title for p in pieces] == ["Scale", "B"]
    assert onsets(pieces[0].notes) == [(0, 60), (4, 62), (8, 64), (12, 65)]


def test_abc_is_recognised_by_content_without_a_suffix(grid):
    assert read_bytes(SCALE.encode(), "tune_0001", grid).pieces[0].stats["notes"] == 4


def test_what_abc2midi_skips_is_counted(grid):
    text = "X:1\nT:Odd\nL:1/4\nK:C\nCD}}EF|\n"
    piece = read_bytes(text.encode(), "odd.abc", grid).pieces[0]
    assert piece.stats["abc2midi_errors"] >= 1
    assert onsets(piece.notes) == [(0, 60), (4, 62), (8, 64), (12, 65)]
