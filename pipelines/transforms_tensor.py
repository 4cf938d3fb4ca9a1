"""Ingest, middle: assign split → transpose → segment → spill the rows.

The split comes from the piece's musical fingerprint (`Piece.group`) before augmentation, so
every transposition and every segment of a piece lands in the split of the piece, and so does
the same tune found in another key or another book (`CountGroups` counts those).
"""

from __future__ import annotations

import apache_beam as beam

from mg.data.schema import arrow_schema, segments_table
from mg.pipelines import counters
from mg.pipelines.records import PieceBlock, PieceRef, SplitPiece, TransposedPiece, Variant
from mg.pipelines.spill import SpillWriter
from mg.pipelines.tensors import segment_rows, shifts_for, split_of, transpose_notes
from mg.representation.grid import Grid


class AssignSplit(beam.PTransform):
    """Piece → SplitPiece, the split drawn from a hash of its fingerprint with the given ratios."""

    def __init__(self, ratios: tuple[float, float, float]) -> None:
        super().__init__()
        self.ratios = ratios

    def expand(self, pieces):
        ratios = self.ratios
        return pieces | "Split" >> beam.Map(
            lambda piece: SplitPiece(piece, split_of(piece.group, ratios))
        )


def _count_group(item) -> None:
    _, piece_ids = item
    distinct = len(set(piece_ids))
    if distinct > 1:
        counters.inc(counters.GROUPS)
        counters.inc(counters.GROUPED_TUNES, distinct)


class CountGroups(beam.PTransform):
    """Piece → nothing; counts the fingerprints that two or more distinct tunes share (the same
    tune in two keys or books), which AssignSplit kept in one split."""

    def expand(self, pieces):
        return (
            pieces
            | "ByGroup" >> beam.Map(lambda piece: (piece.group, piece.piece_id))
            | "Group" >> beam.GroupByKey()
            | "Count" >> beam.Map(_count_group)
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
        yield TransposedPiece(item.piece, item.split, tuple(variants))


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
        variant_rows = segment_rows(piece, variant.shift, variant.notes, grid)
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
