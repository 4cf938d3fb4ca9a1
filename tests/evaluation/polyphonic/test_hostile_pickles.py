"""Benchmark files built to hurt (issue 18): a pickle whose memo repeats one reference claims
billions of frames in a few hundred KB, pitches of inf and nan, a frame of a million pitches, a
file over the size limit. Each is one DatasetError line before anything of that size exists."""

from __future__ import annotations

import math
import pickle
import resource
import time

import pytest
from typer.testing import CliRunner

from mg.cli.app import app
from mg.errors import DatasetError
from mg.evaluation.polyphonic.loaders import MAX_FRAMES, load


def memo_bomb(frames_per_piece: int = 1000, pieces: int = 100_000) -> dict:
    """100 million frames that are one list, referenced through the pickle's memo."""
    frame = [60, 64, 67]
    piece = [frame] * frames_per_piece
    return {"train": [piece] * pieces, "valid": [piece], "test": [piece]}


def write(tmp_path, value, name="evil.pickle"):
    path = tmp_path / name
    path.write_bytes(pickle.dumps(value, protocol=2))
    return path


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_a_memo_bomb_is_refused_before_any_roll_is_allocated(tmp_path):
    path = write(tmp_path, memo_bomb())
    assert path.stat().st_size < 400_000
    before, started = peak_mb(), time.monotonic()
    with pytest.raises(DatasetError, match="100,002,000 frames, over the limit") as caught:
        load(path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)
    assert time.monotonic() - started < 20 and peak_mb() - before < 300


@pytest.mark.parametrize(("per_piece", "pieces"), [(1000, 3), (MAX_FRAMES // 3 + 1, 1)])
def test_pieces_bounds_what_is_converted(tmp_path, per_piece, pieces):
    path = write(tmp_path, memo_bomb(per_piece, 10 * pieces))
    if per_piece * min(3, 10 * pieces) > MAX_FRAMES:  # 1 train + 1 valid + 1 test piece: too many
        with pytest.raises(DatasetError, match="over the limit"):
            load(path, pieces=1)
        return
    splits = load(path, pieces=pieces)
    assert splits.sizes() == (pieces, 1, 1) and splits.frames("train") == pieces * per_piece


@pytest.mark.parametrize("pitch", [math.inf, -math.inf, math.nan, "60", None, 60.5])
def test_a_pitch_that_is_not_a_number_of_midi_is_one_line(tmp_path, pitch):
    path = write(tmp_path, {"train": [[[60], [pitch]]], "valid": [[[60]]], "test": [[[60]]]})
    with pytest.raises(DatasetError, match=r"train\[0\] frame 1 holds .*not a MIDI pitch"):
        load(path)


def test_a_frame_of_a_million_pitches_is_refused(tmp_path):
    path = write(tmp_path, {"train": [[[60] * 1_000_000]], "valid": [], "test": []})
    with pytest.raises(DatasetError, match="1,000,000 pitches"):
        load(path)


@pytest.mark.parametrize("name", ["huge.pickle", "huge.mat"])
def test_a_file_over_the_size_limit_is_not_read(tmp_path, name):
    path = tmp_path / name
    with open(path, "wb") as handle:
        handle.truncate(600 << 20)  # sparse: no disk, no read
    with pytest.raises(DatasetError, match="over the limit"):
        load(path)


def test_the_benchmark_command_says_it_in_one_line(tmp_path):
    path = write(tmp_path, {"train": [[[math.inf]]], "valid": [[[60]]], "test": [[[60]]]})
    result = CliRunner().invoke(app, ["benchmark", "polyphonic", "--data", str(path)])
    assert result.exit_code == 1, result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith("mg: error: ") and "not a MIDI pitch" in line
