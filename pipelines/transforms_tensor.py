"""Ingest, middle: park the pieces → join split groups → assign split → transpose → segment →
spill the rows.

The split comes from the piece's split group before augmentation, so every transposition and
every segment of a piece lands in the split of the piece, and so does the same tune found in
another key or another book. A group joins the tunes that share a phrase (`mg.pipelines.groups`),
which needs the whole corpus's phrases: the pieces wait in the spill meanwhile (`ParkPieces`),
so only small tickets and (phrase, tune) pairs sit at that barrier, never the notes.
"""

from __future__ import annotations

import pickle

import apache_beam as beam
import pyarrow as pa

from mg.data.schema import arrow_schema, segments_table
from mg.pipelines import counters
from mg.pipelines.groups import MAX_TUNES, MIN_SHARED, components, group_sizes, pairs, sharing
from mg.pipelines.records import (
    PieceBlock,
    PieceRef,
    PieceTicket,
    SplitPiece,
    TransposedPiece,
    Variant,
)
from mg.pipelines.spill import SpillReader, SpillWriter
from mg.pipelines.tensors import segment_rows, shifts_for, split_of, transpose_notes
from mg.representation.fingerprint import phrase_fingerprints
from mg.representation.grid import Grid

PHRASES = "phrases"
PARKED_SCHEMA = pa.schema([("piece", pa.binary())])


class _ParkFn(beam.DoFn):
    def __init__(self, folder: str) -> None:
        self.folder = folder

    def setup(self) -> None:
        self.writer = SpillWriter(self.folder, PARKED_SCHEMA)

    def process(self, piece):
        data = pickle.dumps(piece, protocol=pickle.HIGHEST_PROTOCOL)
        path, batch = self.writer.append(pa.table({"piece": [data]}, schema=PARKED_SCHEMA))
        yield PieceTicket(piece.piece_id, piece.group, path, batch)
        tune = (piece.piece_id, piece.group)
        for phrase in phrase_fingerprints(piece.notes):
            yield beam.pvalue.TaggedOutput(PHRASES, (phrase, tune))

    def finish_bundle(self) -> None:
        self.writer.close()

    def teardown(self) -> None:
        self.writer.close()


class ParkPieces(beam.PTransform):
    """Piece → PieceTicket (the piece waits in an IPC file in `folder`), and `phrases`:
    (phrase fingerprint, (piece_id, opening fingerprint)) for each of its phrases."""

    def __init__(self, folder: str) -> None:
        super().__init__()
        self.folder = folder

    def expand(self, pieces):
        return pieces | "Park" >> beam.ParDo(_ParkFn(self.folder)).with_outputs(
            PHRASES, main="tickets"
        )


def _phrase_pairs(item, max_tunes: int):
    _, tunes = item
    kept = sharing(tunes, max_tunes)
    if kept is None:
        counters.inc(counters.PHRASES_STOPLISTED)
        return
    yield from pairs(kept)


def _components(item):
    """All the joins at once (one element: a few pairs per joined tune) → (piece_id, group)."""
    _, joins = item
    groups = components(joins)
    sizes = group_sizes(groups)
    counters.inc(counters.GROUPS, sum(sizes.values()))
    counters.inc(counters.GROUPED_TUNES, len(groups))
    counters.inc(counters.LARGEST_GROUP, max(sizes, default=0))
    for size, count in sizes.items():
        counters.inc(counters.group_size_name(size), count)
    yield from groups.items()


class JoinGroups(beam.PTransform):
    """(phrase, tune) pairs → (piece_id, group) for every tune joined with another: tunes that
    share `min_shared` phrases not stop-listed are joined, groups are the connected components
    (computed in one step over all the joins; see `mg.pipelines.groups`)."""

    def __init__(self, max_tunes: int = MAX_TUNES, min_shared: int = MIN_SHARED) -> None:
        super().__init__()
        self.max_tunes, self.min_shared = max_tunes, min_shared

    def expand(self, phrases):
        min_shared = self.min_shared
        return (
            phrases
            | "ByPhrase" >> beam.GroupByKey()
            | "Pairs" >> beam.FlatMap(_phrase_pairs, self.max_tunes)
            | "CountShared" >> beam.combiners.Count.PerElement()
            | "Joined" >> beam.FlatMap(lambda kv: [("all", kv[0])] if kv[1] >= min_shared else [])
            | "AllJoins" >> beam.GroupByKey()
            | "Components" >> beam.FlatMap(_components)
        )


class _AssignSplitFn(beam.DoFn):
    def __init__(self, ratios: tuple[float, float, float]) -> None:
        self.ratios = ratios

    def setup(self) -> None:
        self.reader = SpillReader()

    def process(self, ticket: PieceTicket, groups: dict[str, str]):
        batch = self.reader.batch(ticket.spill, ticket.batch)
        piece = pickle.loads(batch.column(0)[0].as_py())
        group = groups.get(ticket.piece_id, ticket.group)
        yield SplitPiece(piece, split_of(group, self.ratios), group)

    def teardown(self) -> None:
        self.reader.close()


class AssignSplit(beam.PTransform):
    """PieceTicket → SplitPiece (the piece read back from the spill), the split drawn from a
    hash of its split group (`groups`: (piece_id, group) of the joined tunes; any other piece's
    group is its own opening fingerprint) with the given ratios."""

    def __init__(self, ratios: tuple[float, float, float], groups) -> None:
        super().__init__()
        self.ratios, self.groups = ratios, groups

    def expand(self, tickets):
        return tickets | "Split" >> beam.ParDo(
            _AssignSplitFn(self.ratios), beam.pvalue.AsDict(self.groups)
        )


def transpose_piece(item: SplitPiece, shifts: tuple[int, ...], transpose_all: bool):
    """All the transpositions a piece gets in its split; one that empties the piece is skipped."""
    variants = []
    for shift in shifts_for(item.split, shifts, transpose_all):
        notes, dropped = transpose_notes(item.piece.notes, shift)
        if not notes[..., 0].any():
            counters.inc(counters.TRANSPOSITIONS_EMPTY)
            continue
        variants.append(Variant(shift, notes, dropped))
    if variants:
        yield TransposedPiece(item.piece, item.split, tuple(variants), item.group)


class Transpose(beam.PTransform):
    """SplitPiece → TransposedPiece (shifts of the pitch axis; train only unless transpose_all)."""

    def __init__(self, shifts: tuple[int, ...], transpose_all: bool = False) -> None:
        super().__init__()
        self.shifts, self.transpose_all = shifts, transpose_all

    def expand(self, pieces):
        return pieces | "Transpose" >> beam.FlatMap(
            transpose_piece, self.shifts, self.transpose_all
        )


def segment_piece(item: TransposedPiece, grid: Grid) -> PieceBlock:
    """Every row of a piece, ordered by (transpose, segment), as one table of the schema."""
    piece, rows = item.piece, []
    stats = {"steps": 0, "padded": 0, "pitches_out_of_range": 0}
    for variant in item.variants:
        variant_rows = segment_rows(piece, variant.shift, variant.notes, grid, item.group)
        covered = len(variant_rows) * grid.segment_steps
        stats["steps"] += min(len(piece.notes), covered)  # real steps, padding excluded
        stats["padded"] += int(covered > len(piece.notes))
        stats["pitches_out_of_range"] += variant.dropped
        rows.extend(variant_rows)
    return PieceBlock(
        piece.piece_id, piece.source, piece.tune, item.split, segments_table(rows, grid), stats
    )


class Segment(beam.PTransform):
    """TransposedPiece → PieceBlock: context on the whole piece, then T-step segments."""

    def __init__(self, grid: Grid) -> None:
        super().__init__()
        self.grid = grid

    def expand(self, pieces):
        return pieces | "Segment" >> beam.Map(segment_piece, self.grid)


class _SpillFn(beam.DoFn):
    def __init__(self, folder: str, grid: Grid) -> None:
        self.folder, self.grid = folder, grid

    def setup(self) -> None:
        self.writer = SpillWriter(self.folder, arrow_schema(self.grid))

    def process(self, block: PieceBlock):
        if block.table.num_rows == 0:
            return
        path, batch = self.writer.append(block.table)
        yield PieceRef(
            piece_id=block.piece_id,
            source=block.source,
            tune=block.tune,
            split=block.split,
            spill=path,
            batch=batch,
            rows=block.table.num_rows,
            steps=block.stats["steps"],
            padded=block.stats["padded"],
            pitches_out_of_range=block.stats["pitches_out_of_range"],
        )

    def finish_bundle(self) -> None:
        self.writer.close()  # the next bundle starts a new file

    def teardown(self) -> None:
        self.writer.close()


class Spill(beam.PTransform):
    """PieceBlock → PieceRef: the rows go to an IPC file in `folder`, a reference goes on."""

    def __init__(self, folder: str, grid: Grid) -> None:
        super().__init__()
        self.folder, self.grid = folder, grid

    def expand(self, blocks):
        return blocks | "Spill" >> beam.ParDo(_SpillFn(self.folder, self.grid))
