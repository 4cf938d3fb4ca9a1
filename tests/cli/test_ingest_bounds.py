"""`mg ingest` options that ask for unbounded sizes (issue 18): each is one line and exit 1
before anything is read, allocated or written."""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

from mg.cli.app import app
from mg.data.corpus import music21_corpus_dir

TUNE = music21_corpus_dir() / "ryansMammoth" / "DeerFootHornpipe.abc"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bars", "100000"], "is longer than the longest piece kept"),
        (["--bars", "1025"], "is longer than the longest piece kept"),
        (["--steps-per-beat", "1000000"], "--steps-per-beat must be at most 48"),
        (["--beats-per-bar", "4096"], "--beats-per-bar must be at most 32"),
        (["--transpose=-200:200"], "--transpose must be at least -12"),
        (["--transpose=0:13"], "--transpose must be at most 12"),
        (["--workers", "100000"], "--workers must be at most 256"),
        (["--shards", "1000000000"], "--shards must be at most 10000"),
        (["--max-file-size", "0"], "--max-file-size must be at least 1"),
        (["--max-file-size", "1000000"], "--max-file-size must be at most 1024"),
    ],
)
def test_an_unbounded_option_is_one_line_before_any_work(tmp_path, args, message):
    started = time.monotonic()
    result = CliRunner().invoke(app, ["ingest", str(TUNE), "--out", str(tmp_path / "out"), *args])
    assert result.exit_code == 1, result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith("mg: error: ") and message in line
    assert not (tmp_path / "out").exists()
    assert time.monotonic() - started < 30
