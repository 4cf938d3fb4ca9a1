"""Ingest, middle: park the pieces → plan the shards (split groups, splits, transpositions,
row counts, duplicates, shards) in one step.

The split comes from the piece's split group before augmentation, so every transposition and
every segment of a piece lands in the split of the piece, and so does the same tune found in
another key or another book. A group joins the tunes that share a phrase (`mg.pipelines.groups`),
which needs the whole corpus's phrases: the pieces wait in the spill meanwhile (`ParkPieces`),
and so do their (phrase, tune) rows and a row of facts a piece (`mg.pipelines.plan`), so only
the names of those files sit at that barrier, never the notes, nor a shuffle of the phrases or
of one element a piece. `PlanShards` reads them all in one step: it joins the groups, and
assigns each piece its split, its transpositions, its rows (counted: the shard writer builds
them from the parked piece, `transforms_write`), drops the duplicates and deals the pieces to
shards; what each shard writes goes to a file, and one small element a shard goes on.
"""

from __future__ import annotations

import pickle

import apache_beam as beam
import numpy as np

from mg.pipelines import counters
from mg.pipelines.groups import (
    MAX_TUNES,
    MIN_SHARED,
    fingerprint_int,
    join_numbered,
    table_group_sizes,
    tune_numbers,
)
from mg.pipelines.plan import FACTS_SCHEMA, REFS_SCHEMA, fact_shifts, piece_facts, plan_shards
from mg.pipelines.spill import (
    BlobWriter,
    RowSpill,
    SpillWriter,
    TableSpill,
    give_back_memory,
    read_rows,
    read_table,
)
from mg.pipelines.transforms_read import REJECTED
from mg.representation.grid import Grid

PHRASES = "phrases"
FACTS = "facts"
PHRASE_COLUMNS = ("phrase", "piece", "group")  # uint64: phrase, piece_id, opening fingerprint


class _ParkFn(beam.DoFn):
    def __init__(self, folders: tuple[str, str, str], grid: Grid, shifts: tuple[int, ...]) -> None:
        self.folders, self.grid, self.shifts = folders, grid, fact_shifts(shifts)

    def setup(self) -> None:
        pieces, phrases, facts = self.folders
        self.writer = BlobWriter(pieces)  # a piece pickles its notes packed: ~5 KB a tune
        self.phrases = RowSpill(phrases, PHRASE_COLUMNS)
        self.facts = TableSpill(facts, FACTS_SCHEMA)

    def process(self, piece):
        phrases = piece.phrase_hashes()  # and the group, from the same top line
        # piece_id and group are cached in the piece before it is pickled: no reader hashes again
        piece_id, group = piece.piece_id, piece.group
        data = pickle.dumps(piece, protocol=pickle.HIGHEST_PROTOCOL)
        path, offset = self.writer.append(data)
        new_file = self.facts.add(
            piece_facts(piece, self.grid, self.shifts, path, offset, len(data))
        )
        if new_file:
            yield new_file
        new_file = self.phrases.add_columns(
            phrases, fingerprint_int(piece_id), fingerprint_int(group)
        )
        if new_file:
            yield beam.pvalue.TaggedOutput(PHRASES, new_file)

    def finish_bundle(self) -> None:
        self._close()

    def teardown(self) -> None:
        self._close()

    def _close(self) -> None:
        try:
            self.writer.close()
        finally:
            try:
                self.phrases.close()
            finally:
                self.facts.close()


class ParkPieces(beam.PTransform):
    """Piece → the piece waits, pickled, in a file of its bundle in `folders[0]`
    (`spill.BlobWriter`, found again by offset and size); outputs the names of the files,
    one per bundle, named once, of `facts` (in `folders[2]`: a row a piece, `plan.piece_facts`
    for `shifts` and `grid`) and of `phrases` (in `folders[1]`: its (phrase fingerprint,
    piece_id, opening fingerprint) rows). No element a piece goes on: a shuffle of them is held
    by a local runner in its own process (the phrases' 16 a tune were most of the driver's
    memory at 20,000 files, the tickets and refs of the old stages most of the rest)."""

    def __init__(self, folders: tuple[str, str, str], grid: Grid, shifts: tuple[int, ...]) -> None:
        super().__init__()
        self.fn = _ParkFn(folders, grid, shifts)

    def expand(self, pieces):
        return pieces | "Park" >> beam.ParDo(self.fn).with_outputs(PHRASES, main=FACTS)


def join_phrase_files(paths, max_tunes: int = MAX_TUNES, min_shared: int = MIN_SHARED):
    """The phrase files of `ParkPieces` → (piece_ids sorted, their groups' names) of every tune
    joined with another, as uint64 arrays: tunes that share `min_shared` phrases not
    stop-listed are joined, groups are the connected components (`groups.join_table`'s two
    steps, over all the files at once: 24 bytes a (phrase, tune) row in numpy while they are
    read, 12 once the tunes are numbered). Counts the groups."""
    if not paths:
        return np.zeros(0, np.uint64), np.zeros(0, np.uint64)
    phrases, pieces, keys = read_rows(sorted(paths), PHRASE_COLUMNS)
    ids, tune, names = tune_numbers(pieces, keys)
    del pieces, keys  # 16 copies a tune of what `tune_numbers` keeps once
    ids, names, stopped = join_numbered(phrases, tune, ids, names, max_tunes, min_shared)
    del phrases, tune
    sizes = table_group_sizes(names)
    counters.inc(counters.PHRASES_STOPLISTED, stopped)
    counters.inc(counters.GROUPS, sum(sizes.values()))
    counters.inc(counters.GROUPED_TUNES, len(ids))
    counters.inc(counters.LARGEST_GROUP, max(sizes, default=0))
    for size, count in sizes.items():
        counters.inc(counters.group_size_name(size), count)
    return ids, names


class _PlanFn(beam.DoFn):
    def __init__(self, folder: str, ratios, shifts, transpose_all: bool, shards) -> None:
        self.folder, self.ratios, self.shifts = folder, ratios, shifts
        self.transpose_all, self.shards = transpose_all, shards

    def process(self, item):
        _, named = item
        paths = {FACTS: [], PHRASES: []}
        for kind, path in named:
            paths[kind].append(path)
        joined = join_phrase_files(paths[PHRASES])
        facts = read_table(sorted(paths[FACTS]), FACTS_SCHEMA)
        plan = plan_shards(facts, joined, self.ratios, self.shifts, self.transpose_all, self.shards)
        del facts, joined
        counters.inc(counters.TRANSPOSITIONS_EMPTY, plan.empty)
        counters.inc(counters.DUPLICATES, len(plan.rejected))
        writer, tasks = SpillWriter(self.folder, REFS_SCHEMA), []
        try:
            for split, shard, shards, first, rows in plan.shards:
                path, batch = writer.append(plan.refs.slice(first, rows))
                tasks.append((split, shard, shards, path, batch))
        finally:
            writer.close()
        rejected = plan.rejected
        del plan
        give_back_memory()  # the whole corpus's rows and facts: the writers come next
        for record in rejected:
            yield beam.pvalue.TaggedOutput(REJECTED, record)
        yield from tasks


class PlanShards(beam.PTransform):
    """(fact files, phrase files) of `ParkPieces` → one element a shard that has pieces,
    (split, shard, shards, file, batch): the batch of `file` (in `folder`) holds the refs of
    its pieces (`plan.REFS_SCHEMA`); and `rejected`, the duplicates. In one step over every
    file (`plan.plan_shards`): the split groups joined, each piece's split drawn from a hash of
    its group with `ratios`, its `shifts` (train only unless `transpose_all`; a shift that
    empties the piece counted and skipped), its rows, one piece per piece_id (the smallest
    (source, tune)), and the shards: `shards` a split, or one per ~1,024 rows."""

    def __init__(self, folder: str, ratios, shifts, transpose_all: bool, shards) -> None:
        super().__init__()
        self.fn = _PlanFn(folder, ratios, shifts, transpose_all, shards)

    def expand(self, files):
        facts, phrases = files
        return (
            (
                facts | "FactFiles" >> beam.Map(lambda path: ("all", (FACTS, path))),
                phrases | "PhraseFiles" >> beam.Map(lambda path: ("all", (PHRASES, path))),
            )
            | "Files" >> beam.Flatten()
            | "Gather" >> beam.GroupByKey()
            | "Plan" >> beam.ParDo(self.fn).with_outputs(REJECTED, main="shards")
        )
