"""The plan of the shards (`mg.pipelines.plan`, `transforms_tensor.PlanShards`): the one step
over every parked piece's facts gives what the per-piece stages it replaced gave (AssignSplit,
Transpose, CountRows, DropDuplicates, AssignShards; written out below as they were), on real
tunes: the same split, shifts, rows, duplicates' dead letters, shard counts and shards."""

from __future__ import annotations

import dataclasses
import math
import pickle
from collections import defaultdict

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing import test_pipeline

from mg.data.corpus import music21_corpus_dir
from mg.errors import Reason
from mg.pipelines.counters import read_counters
from mg.pipelines.groups import fingerprint_int, join_groups
from mg.pipelines.plan import (
    FACTS_SCHEMA,
    REFS_SCHEMA,
    fact_shifts,
    piece_facts,
    plan_shards,
    refs_of,
)
from mg.pipelines.records import PieceRef, Rejected
from mg.pipelines.spill import BlobReader, SpillReader, TableSpill, read_table
from mg.pipelines.tensors import onsets_lost, segment_count, shard_of, shifts_for, split_of
from mg.pipelines.transforms_tensor import ParkPieces, PlanShards
from mg.representation import PRESSED, read_bytes
from mg.representation.grid import Grid

ROWS_PER_SHARD = 1024
# a narrow pitch range: real tunes lose onsets at its edges and some transpositions empty them
NARROW = Grid(low=74, high=78)


def old_stages(parked, joined: dict, grid, ratios, shifts, transpose_all, shards):
    """The per-piece stages the plan replaced, as they were: parked = [(piece, spill, offset,
    size)];
    → ({(split, shard, shards): refs sorted}, rejected sorted, transpositions emptied)."""
    refs, empty = [], 0
    for piece, spill, offset, size in parked:
        group = joined.get(piece.piece_id, piece.group)  # AssignSplit (_group_of)
        split = split_of(group, ratios)
        notes = piece.notes  # Transpose (transpose_piece)
        pressed = notes[..., PRESSED].any(axis=0)
        alpha, variants = notes.shape[1], []
        for shift in shifts_for(split, shifts, transpose_all):
            if not pressed[max(0, -shift) : max(0, alpha - max(shift, 0))].any():
                empty += 1
                continue
            variants.append((shift, onsets_lost(notes, shift)))
        if not variants:
            continue
        segments = segment_count(piece, grid)  # CountRows (count_rows)
        if not segments:
            continue
        covered, count = segments * grid.segment_steps, len(variants)
        refs.append(
            PieceRef(
                piece.piece_id,
                piece.source,
                piece.tune,
                split,
                spill,
                offset,
                size,
                rows=segments * count,
                steps=min(len(notes), covered) * count,
                padded=int(covered > len(notes)) * count,
                pitches_out_of_range=sum(d for _, d in variants),
                shifts=tuple(s for s, _ in variants),
                group=group,
            )
        )
    by_piece, kept, rejected = defaultdict(list), [], []  # DropDuplicates (_keep_first)
    for ref in refs:
        by_piece[ref.piece_id].append(ref)
    for copies in by_piece.values():
        first, *others = sorted(copies, key=lambda r: (r.source, r.tune))
        kept.append(first)
        for other in others:
            where = f"{first.source}" + (f" tune {first.tune}" if first.tune else "")
            detail = f"tune {other.tune}: " if other.tune else ""
            rejected.append(
                Rejected(other.source, str(Reason.DUPLICATE), f"{detail}same music as {where}")
            )
    rows = defaultdict(int)  # AssignShards
    for ref in kept:
        rows[ref.split] += ref.rows
    found = defaultdict(list)
    for ref in kept:
        count = shards or max(1, math.ceil(rows[ref.split] / ROWS_PER_SHARD))
        found[(ref.split, shard_of(ref.piece_id, count), count)].append(ref)
    return {key: sorted(value) for key, value in found.items()}, sorted(rejected), empty


def planned(plan) -> dict:
    batches = plan.refs.to_batches(max_chunksize=None)
    table = pa.Table.from_batches(batches, REFS_SCHEMA)
    return {
        (split, shard, shards): sorted(
            refs_of(table.slice(first, rows).combine_chunks().to_batches()[0], split)
        )
        for split, shard, shards, first, rows in plan.shards
    }


def facts_of(parked, grid, shifts) -> pa.Table:
    rows = [piece_facts(p, grid, fact_shifts(shifts), *where) for p, *where in parked]
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in FACTS_SCHEMA]
    return pa.Table.from_arrays(
        [pa.array(list(c), f.type) for c, f in zip(columns, FACTS_SCHEMA, strict=True)],
        schema=FACTS_SCHEMA,
    )


def joined_arrays(joined: dict) -> tuple[np.ndarray, np.ndarray]:
    ids = sorted(joined)
    return (
        np.array([fingerprint_int(i) for i in ids], np.uint64),
        np.array([fingerprint_int(joined[i]) for i in ids], np.uint64),
    )


@pytest.fixture(scope="module")
def tunes(folk_midi) -> dict[str, list]:
    """Real tunes read on the default grid and on a narrow one: 50 folk MIDI files, an ABC
    book of 50 tunes; copies under other names (a MIDI file, ABC tunes by their number)."""
    found = {}
    book = music21_corpus_dir() / "oneills1850" / "0051-0100.abc"  # not the MIDI's
    for grid in (Grid(), NARROW):
        pieces = [
            read_bytes(path.read_bytes(), f"folk/{path.name}", grid).pieces[0]
            for path in sorted(folk_midi.glob("*.mid"))
        ]
        abc = read_bytes(book.read_bytes(), "books/oneills.abc", grid).pieces
        pieces += [p for p in abc if len(p.notes) >= grid.gamma]
        copies = [dataclasses.replace(pieces[0], source="a-copy/\u00e9\udcff.mid")]
        copies += [dataclasses.replace(pieces[3], source="zz/copy.mid")]
        copies += [dataclasses.replace(p, source="books/again.abc") for p in abc[2:5]]
        copies += [dataclasses.replace(abc[6], source="books/oneills.abc", tune=0)]
        found["narrow" if grid is NARROW else "default"] = pieces + copies
    return found


CASES = [
    ("default", (-3, 3), False, None),
    ("default", (-3, 3), True, 3),
    ("default", (1, 2), False, None),  # the splits not transposed get 0, not in the range
    ("default", (0, 0), False, 2),
    ("narrow", (-4, 4), False, None),
    ("narrow", (-12, 12), True, None),
]


@pytest.mark.parametrize(("kind", "transpose", "transpose_all", "shards"), CASES)
@pytest.mark.parametrize("grouped", [False, True])
def test_the_plan_is_what_the_per_piece_stages_gave(
    tunes, kind, transpose, transpose_all, shards, grouped
):
    grid = NARROW if kind == "narrow" else Grid()
    shifts = tuple(range(transpose[0], transpose[1] + 1))
    parked = [
        (piece, f"spill/{i % 7}.bin", i * 4096, 4000 + i) for i, piece in enumerate(tunes[kind])
    ]
    joined = {}
    if grouped:  # the split groups of these tunes, joined by their phrases
        joined, _ = join_groups({(p.piece_id, p.group): p.phrases() for p, *_ in parked})
    ratios = (0.6, 0.2, 0.2)
    want, rejected, empty = old_stages(parked, joined, grid, ratios, shifts, transpose_all, shards)
    plan = plan_shards(
        facts_of(parked, grid, shifts), joined_arrays(joined), ratios, shifts, transpose_all, shards
    )
    assert planned(plan) == want
    assert sorted(plan.rejected) == rejected
    assert plan.empty == empty
    assert {split for split, _, _ in want} == {"train", "valid", "test"}
    assert len(rejected) == 6 or kind == "narrow"  # every copy but one (narrow: what has rows)
    if kind == "narrow":
        assert empty and any(r.pitches_out_of_range for refs in want.values() for r in refs)
    if grouped and kind == "default":  # (the narrow range leaves too few notes to join)
        assert joined


def test_each_shifts_losses_are_the_onsets_it_drops_or_minus_one_when_it_empties():
    # `piece_facts` counts them from the edge pitches the piece uses: the per-shift rule's
    from mg.pipelines.plan import _shift_losses

    def per_shift(notes, shifts):
        pressed = notes[..., PRESSED].any(axis=0)
        alpha, lost = notes.shape[1], []
        for shift in shifts:
            kept = pressed[max(0, -shift) : max(0, alpha - max(shift, 0))].any()
            lost.append(onsets_lost(notes, shift) if kept else -1)
        return lost

    rng = np.random.default_rng(3)
    shifts = tuple(range(-90, 91))
    for _ in range(300):
        steps, alpha = int(rng.integers(0, 40)), int(rng.choice([1, 2, 5, 88]))
        notes = rng.integers(-3, 4, (steps, alpha, 3)) * (rng.random((steps, alpha, 3)) < 0.1)
        if rng.random() < 0.5:  # notes at the edges only
            notes[:, 2:-2] = 0
        notes = notes.astype(rng.choice([np.uint8, np.int8, np.float32, np.bool_]))
        assert _shift_losses(notes, shifts) == per_shift(notes, shifts)


def test_the_smallest_source_and_tune_wins_and_the_others_name_it(tunes):
    parked = [(piece, "spill.bin", i * 4096, 4000) for i, piece in enumerate(tunes["default"])]
    plan = plan_shards(
        facts_of(parked, Grid(), (0,)), joined_arrays({}), (1.0, 0.0, 0.0), (0,), False, 1
    )
    assert sorted(plan.rejected) == [
        Rejected(
            "books/oneills.abc", "duplicate", f"tune {t}: same music as books/again.abc tune {t}"
        )
        for t in (2, 3, 4)
    ] + [
        Rejected("books/oneills.abc", "duplicate", "tune 6: same music as books/oneills.abc"),
        Rejected("folk/oneills-001.mid", "duplicate", "same music as a-copy/\u00e9\udcff.mid"),
        Rejected("zz/copy.mid", "duplicate", "same music as folk/oneills-004.mid"),
    ]
    [(split, shard, shards, first, rows)] = plan.shards
    assert (split, shard, shards, first) == ("train", 0, 1, 0)
    refs = refs_of(plan.refs.slice(first, rows).combine_chunks().to_batches()[0], split)
    assert len(refs) == len(parked) - 6
    assert [r.piece_id for r in refs] == sorted(r.piece_id for r in refs)
    assert "a-copy/\u00e9\udcff.mid" in {r.source for r in refs}


def test_nothing_parked_plans_nothing():
    empty = facts_of([], Grid(), (0,))
    plan = plan_shards(empty, joined_arrays({}), (0.8, 0.1, 0.1), (0,), False, None)
    assert plan.shards == [] and plan.rejected == [] and plan.empty == 0


def test_facts_spill_in_batches_and_read_back_whole(tunes, tmp_path):
    parked = [(piece, f"spill/{i}.bin", 0, 4000 + i) for i, piece in enumerate(tunes["narrow"])]
    spill = TableSpill(str(tmp_path), FACTS_SCHEMA, batch_rows=16)
    names = {spill.add(piece_facts(p, NARROW, fact_shifts((-2, 2)), *at)) for p, *at in parked}
    spill.close()
    [path] = names - {None}
    assert pa.ipc.open_file(path).num_record_batches == -(-len(parked) // 16)
    assert read_table([path], FACTS_SCHEMA).equals(facts_of(parked, NARROW, (-2, 2)))


def local_pipeline() -> test_pipeline.TestPipeline:
    return test_pipeline.TestPipeline(runner=FnApiRunner(), options=PipelineOptions([]))


def test_park_and_plan_in_beam_give_the_per_piece_stages_shards(tunes, tmp_path):
    """ParkPieces → PlanShards on a real runner: one element a shard, its refs in a file,
    the duplicates as dead letters and the counters the old stages kept."""
    grid, shifts, ratios = NARROW, (-4, -3, -2, -1, 0, 1, 2, 3, 4), (0.6, 0.2, 0.2)
    pieces = tunes["narrow"]
    folders = tuple(str(tmp_path / name) for name in ("pieces", "phrases", "facts"))
    p = local_pipeline()
    parked = p | beam.Create(pieces, reshuffle=False) | ParkPieces(folders, grid, shifts)
    plan = (parked.facts, parked.phrases) | PlanShards(
        str(tmp_path / "plan"), ratios, shifts, False, None
    )
    for name, out in (("shards", plan.shards), ("rejected", plan.rejected)):
        _ = (
            out
            | f"All{name}" >> beam.combiners.ToList()
            | f"Keep{name}"
            >> beam.Map(lambda items, path: path.write_bytes(pickle.dumps(items)), tmp_path / name)
        )
    counters = read_counters(p.run())
    found, rejected = (
        pickle.loads((tmp_path / name).read_bytes()) for name in ("shards", "rejected")
    )
    reader, blobs, written, where = SpillReader(), BlobReader(), {}, {}
    for split, shard, shards, path, batch in found:
        written[(split, shard, shards)] = sorted(refs_of(reader.batch(path, batch), split))
    for refs in written.values():
        for ref in refs:
            parked_piece = pickle.loads(blobs.read(ref.spill, ref.offset, ref.size))
            where[ref.piece_id] = (ref.spill, ref.offset)
            assert (parked_piece.source, parked_piece.tune) == (ref.source, ref.tune)
    reader.close()
    blobs.close()
    joined, _ = join_groups({(p.piece_id, p.group): p.phrases() for p in pieces})
    want, want_rejected, empty = old_stages(
        [(piece, "", 0, 0) for piece in pieces], joined, grid, ratios, shifts, False, None
    )
    strip = lambda refs: [dataclasses.replace(r, spill="", offset=0, size=0) for r in refs]  # noqa: E731
    assert {k: strip(v) for k, v in written.items()} == want
    assert sorted(rejected) == want_rejected
    assert counters["duplicates"] == len(want_rejected) == 6
    assert counters["transpositions_empty"] == empty > 0
    assert counters.get("split_groups", 0) == len(set(joined.values()))
