"""Ingest, middle: park the pieces → join split groups → assign split → transpose → count rows.

The split comes from the piece's split group before augmentation, so every transposition and
every segment of a piece lands in the split of the piece, and so does the same tune found in
another key or another book. A group joins the tunes that share a phrase (`mg.pipelines.groups`),
which needs the whole corpus's phrases: the pieces wait in the spill meanwhile (`ParkPieces`),
and so do their (phrase, tune) rows, so only small tickets and the names of the phrase files
sit at that barrier, never the notes nor a shuffle of the phrases. The rows themselves are
built by the shard writer from the parked piece (`transforms_write`): only the count of them,
which the shard count needs, is taken here.
"""

from __future__ import annotations

import pickle

import apache_beam as beam
import numpy as np
import pyarrow as pa

from mg.pipelines import counters
from mg.pipelines.groups import (
    MAX_TUNES,
    MIN_SHARED,
    fingerprint_int,
    fingerprint_text,
    join_table,
    table_group_sizes,
)
from mg.pipelines.records import (
    PieceRef,
    PieceTicket,
    SplitPiece,
    TransposedPiece,
    Variant,
)
from mg.pipelines.spill import RowSpill, SpillReader, SpillWriter, read_rows
from mg.pipelines.tensors import onsets_lost, segment_count, shifts_for, split_of
from mg.representation import PRESSED
from mg.representation.grid import Grid

PHRASES = "phrases"
PARKED_SCHEMA = pa.schema([("piece", pa.binary())])
PHRASE_COLUMNS = ("phrase", "piece", "group")  # uint64: phrase, piece_id, opening fingerprint


class _ParkFn(beam.DoFn):
    def __init__(self, folder: str, phrases_folder: str) -> None:
        self.folder, self.phrases_folder = folder, phrases_folder

    def setup(self) -> None:
        self.writer = SpillWriter(self.folder, PARKED_SCHEMA)
        self.phrases = RowSpill(self.phrases_folder, PHRASE_COLUMNS)

    def process(self, piece):
        phrases = piece.phrases()  # and the group, from the same top line
        # piece_id and group are cached in the piece before it is pickled: no reader hashes again
        piece_id, group = piece.piece_id, piece.group
        data = pickle.dumps(piece, protocol=pickle.HIGHEST_PROTOCOL)
        path, batch = self.writer.append(pa.table({"piece": [data]}, schema=PARKED_SCHEMA))
        yield PieceTicket(piece_id, group, path, batch)
        tune = (fingerprint_int(piece_id), fingerprint_int(group))
        new_file = self.phrases.add((fingerprint_int(phrase), *tune) for phrase in phrases)
        if new_file:
            yield beam.pvalue.TaggedOutput(PHRASES, new_file)

    def finish_bundle(self) -> None:
        self.writer.close()
        self.phrases.close()

    def teardown(self) -> None:
        self.writer.close()
        self.phrases.close()


class ParkPieces(beam.PTransform):
    """Piece → PieceTicket (the piece waits in an IPC file in `folder`), and `phrases`: the
    files (in `phrases_folder`) of its (phrase fingerprint, piece_id, opening fingerprint)
    rows, one file per bundle, named once. The rows never go through a shuffle, which a local
    runner holds in its own process (16 a tune: most of the driver's memory at 20,000 files)."""

    def __init__(self, folder: str, phrases_folder: str) -> None:
        super().__init__()
        self.folder, self.phrases_folder = folder, phrases_folder

    def expand(self, pieces):
        return pieces | "Park" >> beam.ParDo(
            _ParkFn(self.folder, self.phrases_folder)
        ).with_outputs(PHRASES, main="tickets")


def _components(item, max_tunes: int, min_shared: int):
    """All the phrase files at once (one element: their names) → one element, the joined
    tunes as two uint64 arrays in bytes: piece_ids (sorted) and their groups' names."""
    _, paths = item
    phrases, pieces, keys = read_rows(sorted(paths), PHRASE_COLUMNS)
    ids, names, stopped = join_table(phrases, pieces, keys, max_tunes, min_shared)
    del phrases, pieces, keys
    sizes = table_group_sizes(names)
    counters.inc(counters.PHRASES_STOPLISTED, stopped)
    counters.inc(counters.GROUPS, sum(sizes.values()))
    counters.inc(counters.GROUPED_TUNES, len(ids))
    counters.inc(counters.LARGEST_GROUP, max(sizes, default=0))
    for size, count in sizes.items():
        counters.inc(counters.group_size_name(size), count)
    yield ids.tobytes(), names.tobytes()


class JoinGroups(beam.PTransform):
    """The phrase files of `ParkPieces` → one element, (piece_ids, groups) of every tune
    joined with another: tunes that share `min_shared` phrases not stop-listed are joined,
    groups are the connected components (`mg.pipelines.groups.join_table`, in one step over
    all the files: 24 bytes a (phrase, tune) row in numpy). No element when there are none."""

    def __init__(self, max_tunes: int = MAX_TUNES, min_shared: int = MIN_SHARED) -> None:
        super().__init__()
        self.max_tunes, self.min_shared = max_tunes, min_shared

    def expand(self, phrase_files):
        return (
            phrase_files
            | "AllFiles" >> beam.Map(lambda path: ("all", path))
            | "Gather" >> beam.GroupByKey()
            | "Components" >> beam.FlatMap(_components, self.max_tunes, self.min_shared)
        )


class _AssignSplitFn(beam.DoFn):
    def __init__(self, ratios: tuple[float, float, float]) -> None:
        self.ratios = ratios

    def setup(self) -> None:
        self.reader = SpillReader()

    def process(self, ticket: PieceTicket, groups: tuple[bytes, bytes] | None):
        batch = self.reader.batch(ticket.spill, ticket.batch)
        piece = pickle.loads(batch.column(0)[0].as_py())
        group = _group_of(ticket, groups)
        split = split_of(group, self.ratios)
        yield SplitPiece(piece, split, group, ticket.spill, ticket.batch)

    def teardown(self) -> None:
        self.reader.close()


def _group_of(ticket: PieceTicket, groups: tuple[bytes, bytes] | None) -> str:
    """The piece's split group: its joined group's name, else its own opening fingerprint."""
    if not groups:
        return ticket.group
    ids = np.frombuffer(groups[0], dtype=np.uint64)
    key = np.uint64(fingerprint_int(ticket.piece_id))
    at = int(np.searchsorted(ids, key))
    if at < len(ids) and ids[at] == key:
        return fingerprint_text(np.frombuffer(groups[1], dtype=np.uint64)[at])
    return ticket.group


class AssignSplit(beam.PTransform):
    """PieceTicket → SplitPiece (the piece read back from the spill), the split drawn from a
    hash of its split group (`groups`: `JoinGroups`' one element, the joined tunes; any other
    piece's group is its own opening fingerprint) with the given ratios."""

    def __init__(self, ratios: tuple[float, float, float], groups) -> None:
        super().__init__()
        self.ratios, self.groups = ratios, groups

    def expand(self, tickets):
        return tickets | "Split" >> beam.ParDo(
            _AssignSplitFn(self.ratios), beam.pvalue.AsSingleton(self.groups, default_value=None)
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
