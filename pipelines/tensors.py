"""The numpy steps of ingest: split and shard from content, transposition, segment rows.

Pure functions over `mg.representation`; the Beam transforms call them, and so can a
plain loop (the benchmark's baseline does).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib

import numpy as np

from mg.data.schema import SPLITS, TENSOR_COLUMNS, SegmentRow
from mg.representation import (
    ARTICULATED,
    CONTEXT_DTYPE,
    Piece,
    context_matrix,
    position_codes,
)
from mg.representation.context import context_moves, pitch_span, transposed_context
from mg.representation.grid import Grid
from mg.representation.meter import Meter, grid_meter
from mg.representation.segment import segment_starts
from mg.representation.transpose import lost_pitches, shift_pitches


def unit_hash(text: str, salt: str) -> float:
    """A stable number in [0, 1) from a string (blake2b, so every machine agrees)."""
    digest = hashlib.blake2b(f"{salt}:{text}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def split_of(group: str, ratios: tuple[float, float, float]) -> str:
    """train/valid/test from the piece's split group (`mg.pipelines.groups`), in proportion."""
    value, edge = unit_hash(group, "split"), 0.0
    for name, ratio in zip(SPLITS, ratios, strict=True):
        edge += ratio
        if value < edge:
            return name
    return next(name for name, ratio in reversed(list(zip(SPLITS, ratios, strict=True))) if ratio)


def shard_of(piece_id: str, shards: int) -> int:
    return int(unit_hash(piece_id, "shard") * shards)


def shifts_for(split: str, shifts: tuple[int, ...], transpose_all: bool) -> tuple[int, ...]:
    """Augmentation applies to the training split only, unless asked for every split."""
    return shifts if split == "train" or transpose_all else (0,)


def transpose_notes(notes: np.ndarray, shift: int) -> tuple[np.ndarray, int]:
    """Shift the pitch axis of [steps, α, 3] by `shift`; returns the onsets pushed out of range."""
    if shift == 0:
        return notes, 0
    return shift_pitches(notes, shift), onsets_lost(notes, shift)


def onsets_lost(notes: np.ndarray, shift: int) -> int:
    """The onsets of [steps, α, 3] that a shift of `shift` pushes out of range."""
    return int(lost_pitches(notes, shift)[..., ARTICULATED].sum()) if shift else 0


def segment_arrays(
    notes: np.ndarray, grid: Grid, meter: Meter | None = None
) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """Segments [n, T, α, 3] of a piece cut at its bar lines, their context, their start steps.

    The context is computed once over the whole piece (padded with the silence that follows
    it) and cut like the notes, so a segment's first steps see the steps before it, and a bar
    seen again at the start of the next segment gets the same context both times. The cut is
    `segment_notes`'s; where the segments meet exactly (ζ/4 bars) it is a view, not a copy.
    """
    length = grid.segment_steps
    if len(notes) < grid.gamma:  # under one bar: no segment (`segment_notes`'s min_bars=1)
        empty = np.zeros((0, length) + notes.shape[1:], notes.dtype)
        return empty, empty.astype(CONTEXT_DTYPE), ()
    whole, starts = _padded(notes, meter, grid)
    context = context_matrix(whole, grid.steps_per_beat, silent_from=len(notes))
    return cut(whole, starts, length), cut(context, starts, length), tuple(starts)


def _padded(notes: np.ndarray, meter: Meter, grid: Grid) -> tuple[np.ndarray, list[int]]:
    """The notes of a piece of at least one bar with the silence that follows its last
    segment, and the segments' starts."""
    starts, _ = segment_starts(len(notes), meter, grid)
    whole = np.zeros(
        (max(starts[-1] + grid.segment_steps, len(notes)),) + notes.shape[1:], notes.dtype
    )
    whole[: len(notes)] = notes
    return whole, starts


def cut(values: np.ndarray, starts: list[int] | tuple[int, ...], length: int) -> np.ndarray:
    """[steps, ...] -> [len(starts), length, ...]: the `length` steps from each start (a view
    when the starts are 0, length, 2·length, … and cover `values` exactly)."""
    count = len(starts)
    if len(values) == count * length and tuple(starts) == tuple(range(0, count * length, length)):
        return values.reshape((count, length) + values.shape[1:])
    return np.stack([values[s : s + length] for s in starts])


def segment_columns(
    piece: Piece, shift: int, notes: np.ndarray, grid: Grid, group: str = ""
) -> dict[str, np.ndarray | list]:
    """The rows of one transposition of a piece (schema 3) as columns, ready for
    `mg.data.schema.columns_batch`: the tensors stacked [rows, ...], the rest as lists.
    `group` is its split group (the piece's own fingerprint when not given)."""
    meter = grid_meter(piece.meter, grid)
    segments, context, starts = segment_arrays(notes, grid, meter)
    return _columns(piece, shift, segments, context, starts, meter, grid, group)


def variant_columns(
    piece: Piece, shifts: tuple[int, ...], grid: Grid, group: str = ""
) -> list[dict[str, np.ndarray | list]]:
    """`segment_columns` of each transposition of a piece, the same values: the context is
    computed once, on the piece as it is, and moved with the notes for the others
    (`transposed_context`, which recomputes the pitches near the edges). Several
    transpositions are views of `stacked_columns`, one after the other."""
    if len(piece.notes) < grid.gamma or len(shifts) < 2:
        return [
            segment_columns(piece, shift, transpose_notes(piece.notes, shift)[0], grid, group)
            for shift in shifts
        ]
    stacked = stacked_columns(piece, shifts, grid, group)
    count = len(stacked["start"]) // len(shifts)
    return [
        {name: values[i * count : (i + 1) * count] for name, values in stacked.items()}
        for i in range(len(shifts))
    ]


def stacked_columns(
    piece: Piece, shifts: tuple[int, ...], grid: Grid, group: str = ""
) -> dict[str, np.ndarray | list]:
    """The rows of every transposition in `shifts` as one set of columns, in (shift, segment)
    order: the `segment_columns` of each joined, the same values, but the context is computed
    once, on the piece as it is, and moved with the notes for the others
    (`transposed_context`, which recomputes the pitches near the edges, where
    `context_moves` says there are notes near them), each transposition's notes and context
    are written straight into the stacked arrays (no array of its own, no copy to join them),
    and the positions and meters, the same for all, are computed once."""
    if len(piece.notes) < grid.gamma or len(shifts) < 2:
        return join_columns(variant_columns(piece, shifts, grid, group))
    meter = grid_meter(piece.meter, grid)
    length, eps = grid.segment_steps, grid.steps_per_beat
    whole, starts = _padded(piece.notes, meter, grid)
    span = pitch_span(piece.notes)  # the padding is silence
    context = context_matrix(whole, eps, span, silent_from=len(piece.notes))
    count, alpha = len(starts), whole.shape[1]
    exact = len(whole) == count * length and starts == list(range(0, len(whole), length))
    shape = (len(shifts) * count, length) + whole.shape[1:]
    notes, contexts = np.empty(shape, whole.dtype), np.empty(shape, CONTEXT_DTYPE)
    shifted = moved = None  # a transposition's padded piece, when its segments overlap
    for index, shift in enumerate(shifts):
        rows = slice(index * count, (index + 1) * count)
        moves = not shift or context_moves(span, shift, alpha)
        if exact:  # the segments of a transposition are its padded piece, row after row
            shift_pitches(whole, shift, notes[rows].reshape(whole.shape))
            into = contexts[rows].reshape(whole.shape)
            if moves:
                shift_pitches(context, shift, into)
            else:
                transposed_context(context, notes[rows].reshape(whole.shape), shift, eps, into)
            continue
        for row, start in enumerate(starts, start=index * count):  # each segment shifted
            shift_pitches(whole[start : start + length], shift, notes[row])
            if moves:
                shift_pitches(context[start : start + length], shift, contexts[row])
        if not moves:  # the context near the edges needs the steps before each segment
            if shifted is None:
                shifted, moved = np.empty_like(whole), np.empty(whole.shape, CONTEXT_DTYPE)
            shift_pitches(whole, shift, shifted)
            transposed_context(context, shifted, shift, eps, moved)
            for row, start in enumerate(starts, start=index * count):
                contexts[row] = moved[start : start + length]
    first = _columns(
        piece, shifts[0], notes[:count], contexts[:count], tuple(starts), meter, grid, group
    )
    columns = {
        name: value * len(shifts) for name, value in first.items() if isinstance(value, list)
    }
    columns["transpose"] = [shift for shift in shifts for _ in range(count)]
    columns["position"] = np.tile(first["position"], (len(shifts), 1, 1))
    columns["notes"], columns["context"] = notes, contexts
    return {name: columns[name] for name in first}


def row_onsets(
    notes: np.ndarray, starts: list[int], length: int, shifts: tuple[int, ...]
) -> np.ndarray:
    """The onsets by pitch (int64 [α]) of the rows `stacked_columns` cuts from a piece's
    `notes` at `starts`, `length` steps each, for every transposition in `shifts`, summed from
    the piece's articulated plane instead of the rows: each segment's once (segments that
    overlap count the steps they share twice, as their rows do), then moved with each shift
    (what leaves the range is not counted)."""
    articulated, covered = notes[:, :, ARTICULATED], len(starts) * length
    if list(starts) == list(range(0, covered, length)) and covered >= len(notes):
        once = articulated.sum(axis=0, dtype=np.int64)  # the segments tile the piece
    else:
        once = np.zeros(notes.shape[1], np.int64)
        for start in starts:
            once += articulated[start : start + length].sum(axis=0, dtype=np.int64)
    total, alpha = np.zeros_like(once), len(once)
    for shift in shifts:  # pitch p's onsets go to p + shift, where that is in range
        if abs(shift) < alpha:
            low, high = max(shift, 0), alpha + min(shift, 0)
            total[low:high] += once[low - shift : high - shift]
    return total


def join_columns(variants: list[dict[str, np.ndarray | list]]) -> dict[str, np.ndarray | list]:
    """The columns of several transpositions as one set, in their order (one: as it is)."""
    if len(variants) == 1:
        return variants[0]
    return {
        name: np.concatenate([v[name] for v in variants])
        if name in TENSOR_COLUMNS
        else [x for v in variants for x in v[name]]
        for name in variants[0]
    }


def _columns(piece, shift, segments, context, starts, meter, grid, group):
    count = len(starts)
    position, meters = _segment_layout(meter, grid, tuple(starts))
    return {
        "notes": segments,
        "context": context,
        "position": position,
        "piece_id": [piece.piece_id] * count,
        "group": [group or piece.group] * count,
        "source": [piece.source] * count,
        "tune": [piece.tune] * count,
        "segment": list(range(count)),
        "start": list(starts),
        "meter": list(meters),
        "transpose": [shift] * count,
        "abc": [piece.abc] * count,
    }


@functools.lru_cache(maxsize=512)
def _segment_layout(
    meter: Meter, grid: Grid, starts: tuple[int, ...]
) -> tuple[np.ndarray, tuple[str, ...]]:
    """The positions [len(starts), T, 3] (read-only) and the meter at each start of the
    segments of a piece in `meter` that start at `starts`: computed once for the many pieces
    that share them (most are in one meter from step 0 and differ only in length)."""
    steps = grid.segment_steps
    if starts:
        position = cut(position_codes(meter, grid, starts[-1] + steps), starts, steps)
    else:
        position = np.zeros((0, steps, 3), np.int16)
    position.flags.writeable = False
    return position, tuple(_meter_at(meter, start) for start in starts)


def segment_rows(
    piece: Piece, shift: int, notes: np.ndarray, grid: Grid, group: str = ""
) -> list[SegmentRow]:
    """`segment_columns` as one `SegmentRow` per segment."""
    columns = segment_columns(piece, shift, notes, grid, group)
    names = [field.name for field in dataclasses.fields(SegmentRow)]
    return [
        SegmentRow(**{name: columns[name][i] for name in names})
        for i in range(len(columns["start"]))
    ]


def segment_count(piece: Piece, grid: Grid) -> int:
    """How many rows `segment_columns` gives each transposition of `piece`, without them."""
    if len(piece.notes) < grid.gamma:
        return 0
    return len(segment_starts(len(piece.notes), grid_meter(piece.meter, grid), grid)[0])


def _meter_at(meter: Meter, step: int) -> str:
    return str([sig for s, sig in meter.changes if s <= step][-1])


def too_short(notes: np.ndarray, grid: Grid) -> bool:
    """A piece under one bar gives no segment (`segment_notes` drops a tail under a bar)."""
    return len(notes) < grid.gamma
