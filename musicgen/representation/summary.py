"""What a file becomes, in words: the library side of `mg inspect`.

Reads a file (or every supported file of a folder) and reports, per tune, its size on the grid,
its pitch range, its meter (time signatures, changes, pickup) and every counter of what encoding dropped; a bad file
becomes its error, never an exception, so one bad file of a folder does not stop the others.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mg.errors import CorpusError
from mg.representation.encode import PRESSED
from mg.representation.grid import Grid
from mg.representation.meter import counted_bars, grid_meter
from mg.representation.read import SUFFIXES, Piece, read_file

_NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
_KEPT = ("notes", "steps")  # the stats that are sizes, not drops


def pitch_name(midi_pitch: int) -> str:
    """60 -> 'C4' (scientific pitch notation)."""
    return f"{_NAMES[midi_pitch % 12]}{midi_pitch // 12 - 1}"


@dataclass(frozen=True)
class PieceSummary:
    tune: int
    title: str
    steps: int
    bars: int  # bars a musician counts: the music's own, the pickup's partial bar excluded
    notes: int
    low: int  # lowest and highest MIDI pitch that sounds
    high: int
    time_signature: str  # '6/8', '4/4>3/2' when it changes (4/4 when the file gives none)
    pickup: int  # steps of the pickup before the first full bar (0: none)
    dropped: dict[str, int]  # nonzero counters only

    @property
    def pitch_range(self) -> str:
        return f"{pitch_name(self.low)}..{pitch_name(self.high)}"


@dataclass
class FileSummary:
    path: str
    pieces: list[PieceSummary] = field(default_factory=list)
    failures: list[CorpusError] = field(default_factory=list)  # tunes of the file that failed
    error: CorpusError | None = None  # the whole file failed
    first: Piece | None = None  # kept for the piano roll

    def dropped(self) -> Counter:
        total: Counter = Counter()
        for piece in self.pieces:
            total.update(piece.dropped)
        return total


def summarise_piece(piece: Piece, grid: Grid) -> PieceSummary:
    used = np.flatnonzero(piece.notes[..., PRESSED].any(axis=0))
    meter = grid_meter(piece.meter, grid)
    pickup = meter.first.bar_steps(grid.steps_per_beat) - piece.lead if piece.lead else 0
    return PieceSummary(
        tune=piece.tune,
        title=piece.title,
        steps=len(piece.notes),
        bars=counted_bars(meter, len(piece.notes), grid.steps_per_beat, piece.lead),
        notes=piece.stats.get("notes", 0),
        low=int(used[0]) + grid.low,
        high=int(used[-1]) + grid.low,
        time_signature=">".join(dict.fromkeys(str(s) for s in meter.signatures())),
        pickup=pickup,
        dropped={k: v for k, v in piece.stats.items() if k not in _KEPT and v},
    )


def summarise_file(path: str | Path, grid: Grid, keep_tune: int | None = None) -> FileSummary:
    """Read one file; its error, if any, is returned in the summary.

    Keeps the piece of tune `keep_tune` (by default the first that was read) for a piano roll.
    """
    summary = FileSummary(str(path))
    try:
        result = read_file(path, grid)
    except CorpusError as exc:
        summary.error = exc
        return summary
    summary.pieces = [summarise_piece(p, grid) for p in result.pieces]
    summary.failures = list(result.failures)
    wanted = (p for p in result.pieces if keep_tune is None or p.tune == keep_tune)
    summary.first = next(wanted, None)
    return summary


def supported_files(folder: str | Path) -> list[Path]:
    """Every MIDI, ABC or MusicXML file under `folder` (suffix in any case), sorted; no hidden."""
    folder = Path(folder)
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() in SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def describe_dropped(dropped: Counter | dict[str, int]) -> str:
    """{'drum_notes': 3} -> 'drum_notes 3'; '-' when nothing was dropped."""
    return ", ".join(f"{name} {count:,}" for name, count in sorted(dropped.items()) if count) or "-"


def piece_rows(summary: FileSummary) -> list[str]:
    """The table of one file's tunes, then the tunes that failed."""
    rows = [
        f"{'tune':>5}  {'title':<32} {'steps':>6} {'bars':>5} {'notes':>6}  {'pitches':<9} "
        f"{'meter':<7} {'pickup':>6}  dropped"
    ]
    for p in summary.pieces:
        rows.append(
            f"{p.tune:>5}  {p.title[:32]:<32} {p.steps:>6} {p.bars:>5} {p.notes:>6}  "
            f"{p.pitch_range:<9} {p.time_signature:<7} {p.pickup or '-':>6}  "
            f"{describe_dropped(p.dropped)}"
        )
    rows += [f"failed: {failure.detail} [{failure.reason}]" for failure in summary.failures]
    return rows


def file_line(summary: FileSummary, root: str | Path | None = None) -> str:
    """One line for a file of a folder: its totals, or its error."""
    name = str(Path(summary.path).relative_to(root)) if root else summary.path
    if summary.error:
        return f"{name}: BAD [{summary.error.reason}] {summary.error.detail}"
    pieces = summary.pieces
    low, high = min(p.low for p in pieces), max(p.high for p in pieces)
    failed = f", {len(summary.failures)} failed" if summary.failures else ""
    return (
        f"{name}: {len(pieces)} tune{'s' * (len(pieces) != 1)}{failed}, "
        f"{sum(p.steps for p in pieces):,} steps, {sum(p.notes for p in pieces):,} notes, "
        f"{pitch_name(low)}..{pitch_name(high)}; dropped: {describe_dropped(summary.dropped())}"
    )


def grid_line(grid: Grid) -> str:
    """How to read the figures: the grid they are counted on."""
    bars = (
        "bars from each piece's meter" if grid.meter == "score" else f"bars of {grid.gamma} steps"
    )
    return (
        f"grid: {grid.steps_per_beat} steps per quarter, {bars}, "
        f"pitches {pitch_name(grid.low)}..{pitch_name(grid.high)}, at most {grid.max_steps:,} steps"
    )
