"""The plan of the shards: a row of facts per parked piece → the refs each shard writer writes.

When a piece is parked, what the later steps need of it is counted once (`piece_facts`): its
`piece_id` and opening fingerprint, where it waits, its segments, real steps and padding
(`segment_count`'s, the same for every transposition), and for each transposition whether it
empties the piece and how many onsets it drops (`transpose_piece`'s rule, for every shift a
split could get: the split is not known yet). Each parse bundle spills those rows (Arrow,
`spill.TableSpill`); one step reads them all with the joined split groups and, in numpy, does
what AssignSplit, Transpose, CountRows, DropDuplicates and AssignShards did one element at a
time (`plan_shards`): the split group and split, the shifts, the rows, the duplicates (per
`piece_id` the smallest (source, tune) wins), the shard counts and each piece's shard. No
per-piece element goes through a shuffle, which a local runner holds in its own process.

Texts (sources, spill files) are stored as UTF-8 bytes with surrogates passed through: a file
name that is not UTF-8 reaches here with surrogate escapes, which Arrow's strings refuse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from mg.data.schema import SPLITS
from mg.errors import Reason
from mg.pipelines.groups import fingerprint_int, fingerprint_text
from mg.pipelines.records import PieceRef, Rejected
from mg.pipelines.tensors import onsets_lost, segment_count, shard_of, shifts_for, split_of
from mg.representation import ARTICULATED, PRESSED, Piece
from mg.representation.grid import Grid

ROWS_PER_SHARD = 1024  # the size heuristic when --shards is not given (~4 MB of Parquet)

# a row per parked piece; `lost`: per shift of `fact_shifts`, the onsets it drops, -1 when it
# empties the piece (no pitch the piece presses stays in range)
FACTS_SCHEMA = pa.schema(
    [
        ("piece", pa.uint64()),
        ("opening", pa.uint64()),
        ("source", pa.binary()),
        ("tune", pa.int64()),
        ("spill", pa.binary()),
        ("offset", pa.int64()),
        ("size", pa.int64()),
        ("segments", pa.int64()),
        ("steps", pa.int64()),
        ("padded", pa.int64()),
        ("lost", pa.list_(pa.int64())),
    ]
)
# a row per piece to write, a record batch per shard (its split is the shard's)
REFS_SCHEMA = pa.schema(
    [
        ("piece", pa.uint64()),
        ("source", pa.binary()),
        ("tune", pa.int64()),
        ("spill", pa.binary()),
        ("offset", pa.int64()),
        ("size", pa.int64()),
        ("rows", pa.int64()),
        ("steps", pa.int64()),
        ("padded", pa.int64()),
        ("pitches_out_of_range", pa.int64()),
        ("shifts", pa.list_(pa.int64())),
        ("group", pa.uint64()),
    ]
)


def text_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def bytes_text(data: bytes) -> str:
    return data.decode("utf-8", "surrogatepass")


def fact_shifts(shifts: tuple[int, ...]) -> tuple[int, ...]:
    """The shifts a piece's facts cover: every configured one, and 0 (what a split that is
    not transposed gets)."""
    return tuple(sorted({*shifts, 0}))


def piece_facts(
    piece: Piece, grid: Grid, shifts: tuple[int, ...], spill: str, offset: int, size: int
):
    """The row of `FACTS_SCHEMA` of a piece parked as `size` bytes at `offset` of `spill`
    (`spill.BlobWriter`); `shifts`: the `fact_shifts`. Segments, steps and padding as the
    writer will build them (CountRows' count), a shift's emptiness and dropped onsets as
    `transpose_piece` had them."""
    notes = piece.notes
    segments = segment_count(piece, grid)
    covered = segments * grid.segment_steps
    return (
        fingerprint_int(piece.piece_id),
        fingerprint_int(piece.group),
        text_bytes(piece.source),
        piece.tune,
        text_bytes(spill),
        offset,
        size,
        segments,
        min(len(notes), covered),  # real steps, padding excluded
        int(covered > len(notes)),
        _shift_losses(notes, shifts),
    )


def _shift_losses(notes: np.ndarray, shifts: tuple[int, ...]) -> list[int]:
    """Per shift, the onsets it drops (`onsets_lost`), -1 when it empties the piece (no pitch
    the piece presses stays in range). From the lowest and highest pitch that holds a press,
    and one that holds an onset, in one pass over the piece: a shift up keeps a pressed pitch
    when it keeps the lowest, and drops an onset only when it drops the highest (a shift down:
    the other way round); only then are its onsets summed (notes at the edges: rare)."""
    alpha = notes.shape[1]
    if notes.dtype.kind == "u":  # the notes' uint8: a nonzero value is a maximum above 0
        peak = np.maximum.reduce(notes, axis=0, initial=0)  # [α, 3]
    else:
        peak = (notes != 0).any(axis=0)
    pressed = np.flatnonzero(peak[:, PRESSED])
    if not len(pressed):  # every shift empties the piece
        return [-1] * len(shifts)
    low_pressed, high_pressed = int(pressed[0]), int(pressed[-1])
    struck = np.flatnonzero(peak[:, ARTICULATED]) if any(shifts) else ()
    low_struck, high_struck = (int(struck[0]), int(struck[-1])) if len(struck) else (alpha, -1)
    lost = []
    for shift in shifts:
        if (low_pressed >= alpha - shift) if shift >= 0 else (high_pressed < -shift):
            lost.append(-1)
        elif (high_struck >= alpha - shift) if shift > 0 else (low_struck < -shift):
            lost.append(onsets_lost(notes, shift))
        else:  # the pitches it drops hold no onset
            lost.append(0)
    return lost


@dataclass(frozen=True)
class Plan:
    """`refs`: the pieces to write (`REFS_SCHEMA`), sorted by (split, shard, piece_id);
    `shards`: (split, shard, shards, first row, rows) of each shard that has pieces;
    `rejected`: the duplicates' dead letters; `empty`: transpositions that emptied a piece."""

    refs: pa.Table
    shards: list[tuple[str, int, int, int, int]]
    rejected: list[Rejected]
    empty: int


def plan_shards(
    facts: pa.Table,
    joined: tuple[np.ndarray, np.ndarray],
    ratios: tuple[float, float, float],
    shifts: tuple[int, ...],
    transpose_all: bool,
    shards: int | None,
) -> Plan:
    """The plan of every piece of `facts` (`FACTS_SCHEMA`, any order): `joined` = (piece_ids
    sorted, their groups' names) of the tunes joined by phrases (`groups.join_table`)."""
    count, covered = facts.num_rows, fact_shifts(shifts)
    piece = _uint64(facts, "piece")
    group = _groups(piece, _uint64(facts, "opening"), *joined)
    names, at = np.unique(group, return_inverse=True)
    named = [SPLITS.index(split_of(fingerprint_text(g), ratios)) for g in names]
    split = np.asarray(named, dtype=np.int64)[at.reshape(-1)] if count else np.zeros(0, np.int64)
    lost = _lost(facts, len(covered))
    wanted = np.array(
        [[s in shifts_for(name, shifts, transpose_all) for s in covered] for name in SPLITS]
    )
    asked = wanted[split]  # [pieces, shifts]: the shifts of each piece's split
    kept_shift = asked & (lost >= 0)
    variants = kept_shift.sum(axis=1)
    segments = _int64(facts, "segments")
    written = np.flatnonzero((variants > 0) & (segments > 0))
    first, rejected = _drop_duplicates(facts, piece, written)
    rows = segments * variants
    counts = {
        code: shard_count(int(rows[first][split[first] == code].sum()), shards)
        for code in np.unique(split[first]).tolist()
    }
    shard = np.array(
        [
            shard_of(fingerprint_text(p), counts[c])
            for p, c in zip(piece[first].tolist(), split[first].tolist(), strict=True)
        ],
        dtype=np.int64,
    )
    order = np.lexsort((piece[first], shard, split[first]))
    take, shard = first[order], shard[order]
    dropped = np.where(kept_shift, lost, 0).sum(axis=1)
    offsets = np.r_[0, np.cumsum(variants[take])].astype(np.int32)
    values = np.broadcast_to(np.asarray(covered, np.int64), lost.shape)[take][kept_shift[take]]
    picked = facts.take(pa.array(take, type=pa.int64()))
    refs = pa.Table.from_arrays(
        [
            pa.array(piece[take], pa.uint64()),
            picked.column("source"),
            picked.column("tune"),
            picked.column("spill"),
            picked.column("offset"),
            picked.column("size"),
            pa.array(rows[take], pa.int64()),
            pa.array(_int64(facts, "steps")[take] * variants[take], pa.int64()),
            pa.array(_int64(facts, "padded")[take] * variants[take], pa.int64()),
            pa.array(dropped[take], pa.int64()),
            pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, pa.int64())),
            pa.array(group[take], pa.uint64()),
        ],
        schema=REFS_SCHEMA,
    )
    return Plan(refs, _runs(split[take], shard, counts), rejected, int((asked & (lost < 0)).sum()))


def shard_count(rows: int, shards: int | None) -> int:
    return shards or max(1, math.ceil(rows / ROWS_PER_SHARD))


def _uint64(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table.column(name).to_numpy(), dtype=np.uint64)


def _int64(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table.column(name).to_numpy(), dtype=np.int64)


def _groups(piece, opening, ids, names) -> np.ndarray:
    """Each piece's split group: its joined group's name, else its own opening fingerprint."""
    group = opening.copy()
    if len(ids) and len(piece):
        at = np.minimum(np.searchsorted(ids, piece), len(ids) - 1)
        hit = ids[at] == piece
        group[hit] = names[at[hit]]
    return group


def _lost(facts: pa.Table, shifts: int) -> np.ndarray:
    column = facts.column("lost").combine_chunks()
    values = np.asarray(column.flatten().to_numpy(), dtype=np.int64)
    if len(values) != facts.num_rows * shifts:
        raise ValueError(f"piece facts of {len(values)} shift values, not {shifts} a piece")
    return values.reshape(facts.num_rows, shifts)


def _drop_duplicates(facts: pa.Table, piece: np.ndarray, written: np.ndarray):
    """Of the copies of one piece (`written` rows with one piece_id), the lexicographically
    smallest (source, tune) wins; the others are dead letters (reason duplicate)."""
    by_piece = written[np.argsort(piece[written], kind="stable")]
    ids = piece[by_piece]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else np.zeros(0, int)
    sizes = np.diff(np.r_[starts, len(ids)])
    first = by_piece[starts]
    rejected: list[Rejected] = []
    copied = np.flatnonzero(sizes > 1)
    if len(copied):
        sources, tunes = facts.column("source"), facts.column("tune")
        for index in copied:
            rows = by_piece[starts[index] : starts[index] + sizes[index]]
            copies = sorted(
                (
                    (bytes_text(sources[int(r)].as_py()), tunes[int(r)].as_py(), int(r))
                    for r in rows
                ),
                key=lambda c: (c[0], c[1]),
            )
            (source, tune, winner), *others = copies
            first[index] = winner
            where = source + (f" tune {tune}" if tune else "")
            for other, other_tune, _ in others:
                detail = f"tune {other_tune}: " if other_tune else ""
                rejected.append(
                    Rejected(other, str(Reason.DUPLICATE), f"{detail}same music as {where}")
                )
    return first, rejected


def _runs(split: np.ndarray, shard: np.ndarray, counts: dict) -> list:
    """(split, shard, shards, first row, rows) of each run of one (split, shard)."""
    if not len(split):
        return []
    edges = np.flatnonzero(np.r_[True, (split[1:] != split[:-1]) | (shard[1:] != shard[:-1])])
    ends = np.r_[edges[1:], len(split)]
    return [
        (SPLITS[int(split[s])], int(shard[s]), counts[int(split[s])], int(s), int(e - s))
        for s, e in zip(edges, ends, strict=True)
    ]


def refs_of(batch: pa.RecordBatch, split: str) -> list[PieceRef]:
    """A shard's record batch of `Plan.refs` as the writer's PieceRefs."""
    columns = batch.to_pydict()
    return [
        PieceRef(
            piece_id=fingerprint_text(piece),
            source=bytes_text(source),
            tune=tune,
            split=split,
            spill=bytes_text(spill),
            offset=offset,
            size=size,
            rows=rows,
            steps=steps,
            padded=padded,
            pitches_out_of_range=dropped,
            shifts=tuple(shifts),
            group=fingerprint_text(group),
        )
        for (
            piece,
            source,
            tune,
            spill,
            offset,
            size,
            rows,
            steps,
            padded,
            dropped,
            shifts,
            group,
        ) in zip(*(columns[name] for name in REFS_SCHEMA.names), strict=True)
    ]
