"""The numpy steps of ingest: split and shard from content, transposition, segment rows.

Pure functions over `mg.representation`; the Beam transforms call them, and so can a
plain loop (the benchmark's baseline does).
"""

from __future__ import annotations

import hashlib

import numpy as np

from mg.data.schema import SPLITS, SegmentRow
from mg.representation import (
    ARTICULATED,
    CONTEXT_DTYPE,
    Piece,
    context_matrix,
    position_codes,
    segment_notes,
)
from mg.representation.grid import Grid
from mg.representation.meter import Meter, grid_meter
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
    lost = lost_pitches(notes, shift)
    return shift_pitches(notes, shift), int(lost[..., ARTICULATED].sum())


def segment_arrays(
    notes: np.ndarray, grid: Grid, meter: Meter | None = None
) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """Segments [n, T, α, 3] of a piece cut at its bar lines, their context, their start steps.

    The context is computed once over the whole piece (padded with the silence that follows
    it) and cut like the notes, so a segment's first steps see the steps before it, and a bar
    seen again at the start of the next segment gets the same context both times.
    """
    segments = segment_notes(notes, grid, meter)
    if not segments.starts:
        return segments.notes, segments.notes.astype(CONTEXT_DTYPE), ()
    end = segments.starts[-1] + grid.segment_steps
    whole = np.zeros((max(end, len(notes)),) + notes.shape[1:], dtype=notes.dtype)
    whole[: len(notes)] = notes
    context = context_matrix(whole, grid.steps_per_beat)
    cut = np.stack([context[s : s + grid.segment_steps] for s in segments.starts])
    return segments.notes, cut, segments.starts


def segment_rows(
    piece: Piece, shift: int, notes: np.ndarray, grid: Grid, group: str = ""
) -> list[SegmentRow]:
    """The rows of one transposition of a piece (schema 3); `group` is its split group (the
    piece's own fingerprint when not given)."""
    meter = grid_meter(piece.meter, grid)
    segments, context, starts = segment_arrays(notes, grid, meter)
    steps, group = grid.segment_steps, group or piece.group
    return [
        SegmentRow(
            notes=segments[i],
            context=context[i],
            position=position_codes(meter, grid, steps, start),
            piece_id=piece.piece_id,
            group=group,
            source=piece.source,
            tune=piece.tune,
            segment=i,
            start=start,
            meter=_meter_at(meter, start),
            transpose=shift,
            abc=piece.abc,
        )
        for i, start in enumerate(starts)
    ]


def _meter_at(meter: Meter, step: int) -> str:
    return str([sig for s, sig in meter.changes if s <= step][-1])


def too_short(notes: np.ndarray, grid: Grid) -> bool:
    """A piece under one bar gives no segment (`segment_notes` drops a tail under a bar)."""
    return len(notes) < grid.gamma
