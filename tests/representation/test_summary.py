"""The library side of `mg inspect`: per-tune figures, drops by name, which files a folder holds."""

from __future__ import annotations

from mg.errors import Reason
from mg.representation.summary import (
    describe_dropped,
    pitch_name,
    summarise_file,
    supported_files,
)


def test_a_file_summary_has_the_figures_of_each_tune(tmp_path, grid):
    path = tmp_path / "two.abc"
    path.write_text("X:1\nT:One\nM:3/4\nL:1/4\nK:C\nC,,,, E G c|\n\nX:2\nT:Two\nK:C\nA8|\n")
    summary = summarise_file(path, grid, keep_tune=1)
    one, two = summary.pieces
    assert (one.title, one.notes, one.time_signature, one.pitch_range) == (
        "One",
        3,
        "3/4",
        "E4..C5",
    )
    assert (
        one.dropped == {"pitches_out_of_range": 1}
        and summary.dropped()["pitches_out_of_range"] == 1
    )
    assert (two.steps, two.bars) == (16, 1)  # L:1/8 by default: A8 is a whole note
    assert summary.first.title == "Two" and summary.error is None


def test_a_bad_file_summary_holds_its_error(tmp_path, grid):
    path = tmp_path / "bad.mid"
    path.write_bytes(b"MThd")
    summary = summarise_file(path, grid)
    assert summary.error.reason == Reason.TRUNCATED and summary.pieces == []


def test_supported_files_any_case_recursive_and_no_hidden(tmp_path):
    for name in ["a.MID", "b/c.abc", "b/d.Midi", "e.txt", ".git/f.mid", "g.mxl"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = [p.relative_to(tmp_path).as_posix() for p in supported_files(tmp_path)]
    assert found == ["a.MID", "b/c.abc", "b/d.Midi", "g.mxl"]


def test_names_of_pitches_and_drops():
    assert [pitch_name(p) for p in (21, 60, 61, 108)] == ["A0", "C4", "C#4", "C8"]
    assert describe_dropped({"b": 2, "a": 1_000, "c": 0}) == "a 1,000, b 2"
    assert describe_dropped({}) == "-"
