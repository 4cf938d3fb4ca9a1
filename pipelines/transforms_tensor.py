"""Ingest, middle: park the pieces → join split groups → assign split → transpose → count rows.

The split comes from the piece's split group before augmentation, so every transposition and
every segment of a piece lands in the split of the piece, and so does the same tune found in
another key or another book. A group joins the tunes that share a phrase (`mg.pipelines.groups`),
which needs the whole corpus's phrases: the pieces wait in the spill meanwhile (`ParkPieces`),
so only small tickets and (phrase, tune) pairs sit at that barrier, never the notes. The rows
themselves are built by the shard writer from the parked piece (`transforms_write`): only the
count of them, which the shard count needs, is taken here.
"""

from __future__ import annotations

import pickle

import apache_beam as beam
import pyarrow as pa

from mg.pipelines import counters
from mg.pipelines.groups import MAX_TUNES, MIN_SHARED, components, group_sizes, pairs, sharing
from mg.pipelines.records import (
    PieceRef,
    PieceTicket,
    SplitPiece,
    TransposedPiece,
    Variant,
)
from mg.pipelines.spill import SpillReader, SpillWriter
from mg.pipelines.tensors import onsets_lost, segment_count, shifts_for, split_of
from mg.representation import PRESSED
from mg.representation.grid import Grid

PHRASES = "phrases"
PARKED_SCHEMA = pa.schema([("piece", pa.binary())])


class _ParkFn(beam.DoFn):
    def __init__(self, folder: str) -> None:
        self.folder = folder

    def setup(self) -> None:
        self.writer = SpillWriter(self.folder, PARKED_SCHEMA)

    def process(self, piece):
        phrases = piece.phrases()  # and the group, from the same top line
        tune = (piece.piece_id, piece.group)  # cached in the piece before it is pickled, so
        data = pickle.dumps(piece, protocol=pickle.HIGHEST_PROTOCOL)  # no reader hashes again
        path, batch = self.writer.append(pa.table({"piece": [data]}, schema=PARKED_SCHEMA))
        yield PieceTicket(piece.piece_id, piece.group, path, batch)
        for phrase in phrases:
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
        split = split_of(group, self.ratios)
        yield SplitPiece(piece, split, group, ticket.spill, ticket.batch)

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
    """All the transpositions a piece gets in its split; one that empties the piece is skipped.
    The notes are not shifted here (the writer does it): what stays in range and what falls
    out is read from the pitches the piece presses."""
    notes = item.piece.notes
    pressed = notes[..., PRESSED].any(axis=0)  # [α]: the pitches the piece presses at all
    alpha, variants = notes.shape[1], []
    for shift in shifts_for(item.split, shifts, transpose_all):
        if not pressed[max(0, -shift) : max(0, alpha - max(shift, 0))].any():
            counters.inc(counters.TRANSPOSITIONS_EMPTY)
            continue
        variants.append(Variant(shift, onsets_lost(notes, shift)))
    if variants:
        yield TransposedPiece(
            item.piece, item.split, tuple(variants), item.group, item.spill, item.batch
        )


class Transpose(beam.PTransform):
    """SplitPiece → TransposedPiece (shifts of the pitch axis; train only unless transpose_all)."""

    def __init__(self, shifts: tuple[int, ...], transpose_all: bool = False) -> None:
        super().__init__()
        self.shifts, self.transpose_all = shifts, transpose_all

    def expand(self, pieces):
        return pieces | "Transpose" >> beam.FlatMap(
            transpose_piece, self.shifts, self.transpose_all
        )


def count_rows(item: TransposedPiece, grid: Grid):
    """The PieceRef of a piece: its rows, steps and padding counted from its length and meter
    (the same for every transposition), no tensor built; a piece without rows gives none."""
    piece, shifts = item.piece, tuple(v.shift for v in item.variants)
    segments = segment_count(piece, grid)
    if not segments:
        return
    covered = segments * grid.segment_steps
    yield PieceRef(
        piece_id=piece.piece_id,
        source=piece.source,
        tune=piece.tune,
        split=item.split,
        spill=item.spill,
        batch=item.batch,
        rows=segments * len(shifts),
        steps=min(len(piece.notes), covered) * len(shifts),  # real steps, padding excluded
        padded=int(covered > len(piece.notes)) * len(shifts),
        pitches_out_of_range=sum(v.dropped for v in item.variants),
        shifts=shifts,
        group=item.group or piece.group,
    )


class CountRows(beam.PTransform):
    """TransposedPiece → PieceRef: what the writer will build from the parked piece (context
    on the whole piece, then T-step segments, for each transposition), counted."""

    def __init__(self, grid: Grid) -> None:
        super().__init__()
        self.grid = grid

    def expand(self, pieces):
        return pieces | "Count" >> beam.FlatMap(count_rows, self.grid)
