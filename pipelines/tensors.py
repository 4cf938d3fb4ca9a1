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
    Piece,
    context_matrix,
    position_index,
    segment_notes,
)
from mg.representation.grid import Grid
from mg.representation.transpose import lost_pitches, shift_pitches


def unit_hash(text: str, salt: str) -> float:
    """A stable number in [0, 1) from a string (blake2b, so every machine agrees)."""
    digest = hashlib.blake2b(f"{salt}:{text}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def split_of(piece_id: str, ratios: tuple[float, float, float]) -> str:
    """train/valid/test from the piece's content hash, in the given proportions."""
    value, edge = unit_hash(piece_id, "split"), 0.0
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


def segment_arrays(notes: np.ndarray, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Segments [n, T, α, 3] of a piece and their context [n, T, α, 3].

    The context is causal, so computing it over the segments laid end to end equals computing
    it over the whole piece and cutting: each segment's first steps see the steps before it,
    and a padded tail gets the context of silence that follows the music.
    """
    segments = segment_notes(notes, grid)
    flat = segments.notes.reshape((-1,) + notes.shape[1:])
    context = context_matrix(flat, grid.steps_per_beat).reshape(segments.notes.shape)
    return segments.notes, context


def segment_rows(piece: Piece, shift: int, notes: np.ndarray, grid: Grid) -> list[SegmentRow]:
    """The v1 rows of one transposition of a piece."""
    segments, context = segment_arrays(notes, grid)
    steps = grid.segment_steps
    return [
        SegmentRow(
            notes=segments[i],
            context=context[i],
            position=position_index(steps, grid, first_step=i * steps),
            piece_id=piece.piece_id,
            source=piece.source,
            tune=piece.tune,
            segment=i,
            transpose=shift,
            abc=piece.abc,
        )
        for i in range(len(segments))
    ]


def too_short(notes: np.ndarray, grid: Grid) -> bool:
    """A piece under one bar gives no segment (`segment_notes` drops a tail under a bar)."""
    return len(notes) < grid.gamma
