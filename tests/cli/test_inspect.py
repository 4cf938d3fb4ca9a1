"""`mg inspect` as a user runs it, on real files and on bad ones the test writes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from matplotlib.image import imread
from typer.testing import CliRunner

from mg.cli.app import app
from mg.data.corpus import music21_corpus_dir
from mg.representation import read_file
from mg.representation.grid import Grid

BOOK = (
    "% a songbook\nL:1/8\n\n"
    "X:1\nT:First\nM:3/4\nK:G\nGAB cde|\n\n"
    "X:2\nT:Broken\nM:4/4\n\n"
    "X:3\nT:Third\nM:4/4\nK:D\nDEFG ABcd|\n"
)


def run(*args: str):
    return CliRunner().invoke(app, ["inspect", *args])


def rows(output: str) -> list[list[str]]:
    """The tune table: the lines that start with a tune number."""
    return [line.split() for line in output.splitlines() if re.match(r"\s+\d+\s", line)]


@pytest.fixture(scope="module")
def melody(folk_midi) -> Path:
    """A folk tune in 3/4 as MIDI (tests/fixtures/corpora.py)."""
    return folk_midi / "oneills-006.mid"


@pytest.fixture
def book(tmp_path) -> Path:
    path = tmp_path / "book.abc"
    path.write_text(BOOK)
    return path


def test_a_midi_file_shows_its_tune_and_draws_it(melody, tmp_path):
    result = run(str(melody), "--png", str(tmp_path / "roll.png"))
    assert result.exit_code == 0, result.output
    [row] = rows(result.stdout)
    tune, title, steps, bars, notes, pitches, meter = row[:7]
    assert (tune, title, meter) == ("0", "oneills-006", "3/4")
    piece = read_file(melody, Grid()).pieces[0]
    assert int(bars) == piece.bars(4) > -(-int(steps) // 16)  # bars of 3/4, not 4/4
    assert int(steps) > 100 and int(notes) > 20
    assert re.fullmatch(r"[A-G]#?\d\.\.[A-G]#?\d", pitches)
    assert "grid: 4 steps per quarter, bars from each piece's meter" in result.stdout
    assert imread(tmp_path / "roll.png").shape[1] > 300


def test_a_multi_tune_abc_file_lists_every_tune_and_the_broken_one(book, tmp_path):
    result = run(str(book), "--png", str(tmp_path / "third.png"), "--tune", "2")
    assert result.exit_code == 0, result.output
    assert [(r[0], r[1]) for r in rows(result.stdout)] == [("0", "First"), ("2", "Third")]
    assert [r[6] for r in rows(result.stdout)] == ["3/4", "4/4"]
    assert re.search(r"failed: tune 1 \(Broken\): .*line \d+.*\[abc_tune\]", result.stdout)
    assert "tune 2: Third" in result.stdout and (tmp_path / "third.png").exists()


def test_drops_are_reported_with_their_reason(tmp_path):
    path = tmp_path / "wide.abc"  # C,,,, is MIDI 12: below the piano range
    path.write_text("X:1\nT:Wide\nL:1/4\nK:C\nC,,,, C D E|\n")
    result = run(str(path))
    assert result.exit_code == 0, result.output
    assert "pitches_out_of_range 1" in result.stdout


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.mid", b"", "file is empty"),
        ("notes.txt", b"shopping list", "neither MIDI, ABC nor MusicXML"),
        ("cut.MID", b"MThd\x00\x00\x00\x06\x00", "MIDI header cut short"),
        ("none.abc", b"X:1\nT:no key\n", "no parseable tune"),
    ],
)
def test_a_bad_file_is_one_error_line_and_exit_1(tmp_path, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    result = run(str(path))
    assert result.exit_code == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"mg: error: {path}: ") and message in line
    assert "Traceback" not in result.output


def test_a_missing_file_is_one_error_line(tmp_path):
    result = run(str(tmp_path / "nowhere.mid"))
    assert result.exit_code == 1 and len(result.stderr.splitlines()) == 1


def test_a_folder_gets_one_line_per_file_and_lists_its_bad_files(tmp_path, book, melody):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "TUNE.MID").symlink_to(melody)
    (tmp_path / "reel.abc").symlink_to(music21_corpus_dir() / "ryansMammoth" / "AcaciaReel.abc")
    (tmp_path / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x00")
    (tmp_path / "readme.txt").write_text("not music: skipped")
    (tmp_path / ".hidden.mid").write_bytes(b"")
    result = run(str(tmp_path), "--png", str(tmp_path / "first.png"))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    names = [line.split(":")[0] for line in lines[:4]]
    assert names == ["book.abc", "broken.mid", "reel.abc", "sub/TUNE.MID"]
    assert "BAD [division_zero]" in lines[1]
    assert lines[0].startswith("book.abc: 2 tunes, 1 failed")
    assert "4 files: 3 read, 1 bad; 4 tunes, 1 tune failed" in result.stdout
    assert "tune 0: First" in result.stdout and (tmp_path / "first.png").exists()


def test_a_folder_without_music_or_with_only_bad_files_fails(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing")
    result = run(str(tmp_path))
    assert result.exit_code == 1 and "no MIDI, ABC or MusicXML file" in result.stderr
    (tmp_path / "a.mid").write_bytes(b"")
    result = run(str(tmp_path))
    assert result.exit_code == 1 and "a.mid: BAD [empty]" in result.stdout
    assert "none of its 1 files could be read" in result.stderr


def test_help_describes_the_options():
    result = CliRunner().invoke(app, ["inspect", "--help"])
    assert result.exit_code == 0
    assert "--png" in result.stdout and "--tune" in result.stdout
