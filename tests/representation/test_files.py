"""`mg.representation.files`: reading a file that may be hostile (issue 18), as ingest, `mg
inspect` and `--primer` do: special files are refused unopened, sizes are checked before any
read, and none of it can block."""

from __future__ import annotations

import os
import socket
import time

import pytest

from mg.data.corpus import music21_corpus_dir
from mg.errors import CorpusError, Reason
from mg.generation.generate import GenerateOptions, generate
from mg.generation.sampling import SamplingOptions
from mg.models import registry
from mg.models.saving import save_model
from mg.representation import read_file
from mg.representation.files import read_regular_file
from mg.representation.grid import Grid

TUNE = music21_corpus_dir() / "ryansMammoth" / "DeerFootHornpipe.abc"


def hostile(folder) -> dict[str, Reason]:
    os.mkfifo(folder / "pipe.mid")
    (folder / "zero.abc").symlink_to("/dev/zero")
    (folder / "tty.mid").symlink_to("/dev/null")
    (folder / "gone.mid").symlink_to(folder / "nothing.mid")
    (folder / "dir.mid").mkdir()
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(folder / "sock.abc"))
    listener.close()
    with open(folder / "sparse.mid", "wb") as handle:
        handle.truncate(1 << 30)
    return {
        "pipe.mid": Reason.NOT_A_FILE,
        "zero.abc": Reason.NOT_A_FILE,
        "tty.mid": Reason.NOT_A_FILE,
        "dir.mid": Reason.NOT_A_FILE,
        "sock.abc": Reason.NOT_A_FILE,
        "gone.mid": Reason.UNREADABLE,
        "sparse.mid": Reason.TOO_LARGE,
    }


def test_each_hostile_file_is_a_corpus_error_at_once(tmp_path):
    for name, reason in hostile(tmp_path).items():
        started = time.monotonic()
        with pytest.raises(CorpusError) as caught:
            read_file(tmp_path / name, Grid())
        assert caught.value.reason == reason, (name, caught.value)
        assert name in str(caught.value) and time.monotonic() - started < 5


def test_the_cap_is_exact_and_a_name_that_is_not_utf8_is_shown_escaped(tmp_path):
    data = TUNE.read_bytes()
    assert read_regular_file(TUNE, len(data)) == data
    with pytest.raises(CorpusError, match="over the cap"):
        read_regular_file(TUNE, len(data) - 1)
    with open(os.fsencode(tmp_path) + b"/\xff.mid", "wb"):
        pass
    with pytest.raises(CorpusError, match=r"\\xff.mid: file is empty"):
        read_file(os.fsdecode(os.fsencode(tmp_path) + b"/\xff.mid"), Grid())


def test_a_fifo_or_dev_zero_as_primer_is_one_error_not_a_hang(tmp_path):
    grid = Grid(bars=1, low=48, high=71)
    family = registry.get("three-branch")
    folder = save_model(
        tmp_path / "m", family.name, family.build(family.make_config("tiny", grid)), grid
    )
    hostile(tmp_path)
    for name in ("pipe.mid", "zero.abc", "sparse.mid"):
        options = GenerateOptions(
            SamplingOptions(steps=8, num=1), out=tmp_path / "out", primer=tmp_path / name
        )
        with pytest.raises(CorpusError):
            generate(str(folder), options)
