"""Ingest, last half: write the shards' Parquet; dead letters; corpus checksum (its pairs
spilled per bundle, one step over them all).

One small element a shard comes from the plan (`transforms_tensor.PlanShards`): where the refs
of its pieces are (`plan.REFS_SCHEMA`, a record batch a shard). Each shard writer reads those,
reads its pieces back from where they are parked, in piece_id order, and builds their rows
there (transposition, context, segments: `tensors.stacked_columns`) in (transpose, segment)
order, so a shard's contents depend on the corpus and the options only, and the rows, 200 KB
each before compression, are made once and written once.
"""

from __future__ import annotations

import hashlib
import json
import pickle

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from mg.data.schema import META_COLUMNS, arrow_schema, columns_table
from mg.pipelines import counters
from mg.pipelines.plan import bytes_text, refs_of, text_bytes
from mg.pipelines.progress import ProgressFile
from mg.pipelines.records import PieceRef, Rejected
from mg.pipelines.spill import (
    BlobReader,
    SpillReader,
    TableSpill,
    give_back_memory,
    read_table,
)
from mg.pipelines.tensors import row_onsets, stacked_columns
from mg.representation.grid import Grid

ROW_GROUP_ROWS = 128  # rows per Parquet row group (~25 MB of tensors before compression)
# Dictionary encoding of the tensor columns costs 5x the write time for a 3x smaller file
# (about 1 KB vs 3.5 KB a segment); it is kept for the repeated text columns only.
PARQUET_OPTIONS = {
    "compression": "zstd",
    "use_dictionary": [c for c in META_COLUMNS if c not in ("tune", "segment", "transpose")],
    "write_statistics": [c for c in META_COLUMNS if c != "abc"],
    "write_page_checksum": True,  # a flipped bit fails its page's CRC on read, naming the shard
    # Version 2 data pages compress the values alone: version 1 first copies each page's
    # values behind its (here empty) levels, a copy of every tensor byte. Writes 17% faster
    # at ±3 (2.70 -> 2.24 ms a Nottingham tune), 7% at 0:0 (0.375 -> 0.348); the same tables,
    # the same read time, files 0.02-0.06% larger.
    "data_page_version": "2.0",
}


def shard_file(split: str, shard: int, shards: int) -> str:
    return f"{split}/part-{shard:05d}-of-{shards:05d}.parquet"


class _WriteShardFn(beam.DoFn):
    def __init__(self, staging: str, grid: Grid, progress: str | None) -> None:
        self.staging, self.grid, self.progress_folder = staging, grid, progress

    def setup(self) -> None:
        self.reader, self.pieces = SpillReader(), BlobReader()
        self.progress = ProgressFile(self.progress_folder)
        self.schema = arrow_schema(self.grid)

    def process(self, item):
        split, shard, shards, plan, index = item
        refs = sorted(refs_of(self.reader.batch(plan, index), split))  # one a piece_id: by it
        path = FileSystems.join(self.staging, shard_file(split, shard, shards))
        histogram = np.zeros(self.grid.alpha, dtype=np.int64)
        with (
            FileSystems.create(path) as stream,
            pq.ParquetWriter(stream, self.schema, **PARQUET_OPTIONS) as writer,
        ):
            buffer: list[dict] = []
            buffered = 0
            parked = self.pieces.read_all([(r.spill, r.offset, r.size) for r in refs])
            for ref, data in zip(refs, parked, strict=True):
                buffer.append(piece_columns(data, ref, self.grid, histogram))
                buffered += ref.rows
                if buffered >= ROW_GROUP_ROWS:
                    writer.write_table(columns_table(buffer, self.schema))
                    buffer, buffered = [], 0
                self.progress.add("segments", ref.rows)
            if buffer:
                writer.write_table(columns_table(buffer, self.schema))
        self._count(split, refs, histogram)
        give_back_memory()  # a shard's row groups, ~25 MB of tensors each before compression
        yield (split, shard, sum(r.rows for r in refs))

    def _count(self, split: str, refs: list[PieceRef], histogram: np.ndarray) -> None:
        counters.inc(counters.split_name(split, "pieces"), len(refs))
        counters.inc(counters.split_name(split, "segments"), sum(r.rows for r in refs))
        counters.inc(counters.split_name(split, "steps"), sum(r.steps for r in refs))
        counters.inc(counters.SEGMENTS_PADDED, sum(r.padded for r in refs))
        counters.inc(counters.PITCHES_OUT_OF_RANGE, sum(r.pitches_out_of_range for r in refs))
        for index, value in enumerate(histogram):
            counters.inc(counters.pitch_name(self.grid.low + index), int(value))

    def finish_bundle(self) -> None:
        self.progress.flush()

    def teardown(self) -> None:
        try:
            self.reader.close()
        finally:
            self.pieces.close()
            self.progress.flush()


def piece_columns(
    parked: bytes, ref: PieceRef, grid: Grid, onsets: np.ndarray | None = None
) -> dict[str, np.ndarray | list]:
    """The rows of one piece, from its parked bytes (`spill.BlobReader`), ordered by (transpose,
    segment), as columns (`tensors.stacked_columns`; `schema.columns_table` makes a row group
    of several pieces' columns, a Parquet page per piece and tensor column: a page per
    transposition makes the file 12% larger). The onsets of its rows by pitch are added to
    `onsets` when given (`tensors.row_onsets`: what the notes column sums to, from the piece's
    notes: a seventh of the work at ±3)."""
    piece = pickle.loads(parked)
    columns = stacked_columns(piece, ref.shifts, grid, ref.group)  # (transpose, segment) order
    rows = len(columns["start"])
    if rows != ref.rows:  # the plan and the rows built disagree: a bug
        raise RuntimeError(f"{ref.source}: {ref.rows} rows counted, {rows} built")
    if onsets is not None:
        starts = columns["start"][: rows // len(ref.shifts)]
        onsets += row_onsets(piece.notes, starts, grid.segment_steps, ref.shifts)
    return columns


class WriteShards(beam.PTransform):
    """(split, shard, shards, refs file, batch) of `PlanShards` → the shard's Parquet file,
    `staging/{split}/part-NNNNN-of-MMMMM.parquet`, spread over the workers; yields (split,
    shard, rows)."""

    def __init__(self, staging: str, grid: Grid, progress: str | None = None) -> None:
        super().__init__()
        self.fn = _WriteShardFn(staging, grid, progress)

    def expand(self, shards):
        return shards | "Spread" >> beam.Reshuffle() | "Write" >> beam.ParDo(self.fn)


class _CountRejectedFn(beam.DoFn):
    def __init__(self, progress: str | None) -> None:
        self.progress_folder = progress

    def setup(self) -> None:
        self.progress = ProgressFile(self.progress_folder)

    def process(self, record: Rejected):
        counters.inc(counters.rejected_name(record.reason))
        self.progress.add("rejected")
        yield record

    def finish_bundle(self) -> None:
        self.progress.flush()

    def teardown(self) -> None:
        self.progress.flush()


def write_lines(lines, path: str, chunk: int = 4096) -> str:
    """Lines (any iterable of str) → `path`, UTF-8, written `chunk` lines at a time."""
    with FileSystems.create(path) as handle:
        block: list[str] = []
        for line in lines:
            block.append(line + "\n")
            if len(block) >= chunk:
                handle.write("".join(block).encode("utf-8"))
                block = []
        if block:
            handle.write("".join(block).encode("utf-8"))
    return path


class WriteRejected(beam.PTransform):
    """Dead letters → counters `rejected_<reason>` and one sorted JSON-lines file."""

    def __init__(self, path: str, progress: str | None = None) -> None:
        super().__init__()
        self.path, self.progress = path, progress

    def expand(self, rejected):
        path = self.path
        return (
            rejected
            | "Count" >> beam.ParDo(_CountRejectedFn(self.progress))
            | "All" >> beam.combiners.ToList()
            | "Write"
            >> beam.Map(lambda records: write_lines([r.to_json() for r in sorted(records)], path))
        )


def corpus_checksum(pairs: list[tuple[str, str]]) -> dict:
    """Hash of the sorted (source, content hash) list: the corpus's identity."""
    digest = hashlib.blake2b(digest_size=16)
    for source, content in sorted(pairs):
        digest.update(f"{source}\0{content}\n".encode())
    return {"files": len(pairs), "checksum": digest.hexdigest()}


DIGEST_SCHEMA = pa.schema([("source", pa.binary()), ("digest", pa.binary())])


class _SpillDigestsFn(beam.DoFn):
    def __init__(self, folder: str) -> None:
        self.folder = folder

    def setup(self) -> None:
        self.spill = TableSpill(self.folder, DIGEST_SCHEMA, batch_rows=1 << 14)

    def process(self, pair: tuple[str, str]):
        source, digest = pair
        new_file = self.spill.add((text_bytes(source), text_bytes(digest)))
        if new_file:
            yield new_file

    def finish_bundle(self) -> None:
        self.spill.close()

    def teardown(self) -> None:
        self.spill.close()


def write_checksum(paths: list[str], path: str) -> str:
    """The (source, content hash) rows of every digest file → `path`: `corpus_checksum`."""
    table = read_table(sorted(paths), DIGEST_SCHEMA)
    sources, digests = (table.column(name).to_pylist() for name in DIGEST_SCHEMA.names)
    del table
    pairs = [(bytes_text(s), bytes_text(d)) for s, d in zip(sources, digests, strict=True)]
    del sources, digests
    return write_lines([json.dumps(corpus_checksum(pairs))], path)


class CorpusChecksum(beam.PTransform):
    """(source, content hash) pairs → `path` holding {"files", "checksum"} as JSON. Each bundle
    spills its pairs to a file in `folder` (the pairs never go through a shuffle: a local
    runner would hold one a file in its own process); one step reads them all."""

    def __init__(self, path: str, folder: str) -> None:
        super().__init__()
        self.path, self.folder = path, folder

    def expand(self, pairs):
        return (
            pairs
            | "Spill" >> beam.ParDo(_SpillDigestsFn(self.folder))
            | "Files" >> beam.combiners.ToList()  # one element, even for no files
            | "Write" >> beam.Map(write_checksum, self.path)
        )
