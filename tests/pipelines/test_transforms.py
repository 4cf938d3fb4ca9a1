"""The named ingest transforms, one at a time, with TestPipeline + assert_that on real files."""

from __future__ import annotations

import json
import pickle

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from mg.data.schema import arrow_schema, columns_table
from mg.pipelines.counters import read_counters
from mg.pipelines.listing import FileRef
from mg.pipelines.plan import FACTS_SCHEMA, fact_shifts, piece_facts, plan_shards, refs_of
from mg.pipelines.records import FileBytes
from mg.pipelines.spill import BlobReader, BlobWriter, TableSpill, read_table
from mg.pipelines.transforms_read import (
    ListFiles,
    ParseFiles,
    ReadFiles,
    SplitTunes,
    listing_chunks,
    read_chunk,
)
from mg.pipelines.transforms_write import CorpusChecksum, corpus_checksum, piece_columns
from mg.representation import read_bytes
from mg.representation.grid import Grid
from tests.pipelines.ingest_corpus import BOOK, CRASH_PARSER

GRID = Grid()


def local_pipeline() -> test_pipeline.TestPipeline:
    return test_pipeline.TestPipeline(runner=FnApiRunner(), options=PipelineOptions([]))


@pytest.fixture(scope="module")
def midi(folk_midi) -> bytes:
    return (folk_midi / "oneills-001.mid").read_bytes()


def test_read_files_hashes_content_and_rejects_a_dangling_link(tmp_path, midi):
    (tmp_path / "a.mid").write_bytes(midi)
    (tmp_path / "gone.mid").symlink_to(tmp_path / "nowhere.mid")
    refs = [
        FileRef("a.mid", str(tmp_path / "a.mid")),
        FileRef("gone.mid", str(tmp_path / "gone.mid")),
    ]
    with local_pipeline() as p:
        read = p | beam.Create(refs) | ReadFiles()
        files = read.files | "Sizes" >> beam.Map(lambda f: (f.ref.source, len(f.data)))
        assert_that(files, equal_to([("a.mid", len(midi))]), label="files")
        rejected = read.rejected | beam.Map(lambda r: (r.path, r.reason, r.detail.split(" to ")[0]))
        assert_that(
            rejected, equal_to([("gone.mid", "unreadable", "dangling symlink")]), label="rej"
        )
        digests = read.digests | beam.Map(lambda d: (d[0], len(d[1]) if d[0] == "a.mid" else d[1]))
        assert_that(digests, equal_to([("a.mid", 32), ("gone.mid", "unreadable")]), label="digests")


def test_parse_files_turns_bad_bytes_and_a_crash_into_dead_letters(midi):
    items = [
        FileBytes(FileRef("good.mid", "good.mid"), midi, "d1"),
        FileBytes(FileRef("noise.mid", "noise.mid"), b"not a midi file", "d2"),
        FileBytes(FileRef("crash.mid", "crash.mid"), midi + b"MG-CRASH", "d3"),
    ]
    with local_pipeline() as p:
        parsed = p | beam.Create(items) | ParseFiles(GRID, CRASH_PARSER, timeout_s=120)
        results = parsed.results | beam.Map(lambda r: (r.path, len(r.pieces)))
        assert_that(results, equal_to([("good.mid", 1)]), label="results")
        rejected = parsed.rejected | beam.Map(lambda r: (r.path, r.reason))
        expected = [("noise.mid", "unknown_format"), ("crash.mid", "parser_crash")]
        assert_that(rejected, equal_to(expected), label="rejected")


def test_split_tunes_keeps_good_tunes_and_rejects_the_broken_one():
    result = read_bytes(BOOK.encode(), "book.abc", GRID)
    p = local_pipeline()
    tunes = p | beam.Create([result]) | SplitTunes(GRID)
    pieces = tunes.pieces | beam.Map(
        lambda piece: (piece.source, piece.tune, piece.abc is not None)
    )
    assert_that(pieces, equal_to([("book.abc", 0, True), ("book.abc", 2, True)]), label="pieces")
    rejected = tunes.rejected | beam.Map(lambda r: (r.path, r.reason))
    assert_that(rejected, equal_to([("book.abc", "abc_tune")]), label="rejected")
    counters = read_counters(p.run())
    assert counters["tunes_read"] == 3 and counters["pieces_too_short"] == 1


def test_the_plan_augments_the_training_split_only(midi, tmp_path):
    piece = read_bytes(midi, "a.mid", GRID).pieces[0]
    for ratios, split, shifts in [((1.0, 0, 0), "train", (-1, 0, 1)), ((0, 1.0, 0), "valid", (0,))]:
        refs = planned_refs(piece, ("spill.bin", 0, 4000), ratios, (-1, 0, 1), tmp_path)
        assert [(r.split, r.shifts) for r in refs] == [(split, shifts)]


def planned_refs(piece, parked, ratios, shifts, tmp_path):
    """The refs `plan_shards` gives the one piece parked at `parked` (file, offset, size), its
    facts spilled and read back."""
    facts = TableSpill(str(tmp_path / "facts"), FACTS_SCHEMA)
    path = facts.add(piece_facts(piece, GRID, fact_shifts(shifts), *parked))
    facts.close()
    joined = (np.zeros(0, np.uint64), np.zeros(0, np.uint64))
    plan = plan_shards(read_table([path], FACTS_SCHEMA), joined, ratios, shifts, False, 1)
    return [
        ref
        for split, _, _, first, rows in plan.shards
        for ref in refs_of(plan.refs.slice(first, rows).to_batches()[0], split)
    ]


def test_writer_orders_rows_by_transposition_then_segment_as_counted(midi, tmp_path):
    piece = read_bytes(midi, "a.mid", GRID).pieces[0]
    segments = -(-len(piece.notes) // GRID.segment_steps)
    writer, data = BlobWriter(str(tmp_path)), pickle.dumps(piece)
    writer.append(b"another piece before it")
    path, offset = writer.append(data)
    writer.close()
    [ref] = planned_refs(piece, (path, offset, len(data)), (1.0, 0, 0), (-1, 0, 1), tmp_path)
    with BlobReader() as parked:
        [data] = parked.read_all([(ref.spill, ref.offset, ref.size)])
    table = columns_table([piece_columns(data, ref, GRID)], arrow_schema(GRID))
    assert (ref.rows, ref.shifts, ref.steps) == (3 * segments, (-1, 0, 1), 3 * len(piece.notes))
    expected = [(s, i) for s in (-1, 0, 1) for i in range(segments)]
    found = zip(table["transpose"].to_pylist(), table["segment"].to_pylist(), strict=True)
    assert list(found) == expected


def test_corpus_checksum_ignores_the_order_files_were_read_in():
    pairs = [("a.mid", "h1"), ("b.abc", "h2"), ("c.mid", "unreadable")]
    assert corpus_checksum(pairs) == corpus_checksum(list(reversed(pairs)))
    assert corpus_checksum(pairs)["files"] == 3
    assert corpus_checksum(pairs) != corpus_checksum([("a.mid", "h1"), ("b.abc", "h3")])


@pytest.mark.parametrize("count", [0, 1, 2500])
def test_corpus_checksum_of_pairs_spilled_per_bundle_is_that_of_the_pairs(tmp_path, count):
    pairs = [(f"books/tune-{i}-\u00e9.mid", f"{i * 7919:032x}") for i in range(count)]
    pairs += [("bad/gone.mid", "unreadable")] if count else []
    path = tmp_path / "corpus.json"
    with local_pipeline() as p:
        _ = p | beam.Create(pairs) | CorpusChecksum(str(path), str(tmp_path / "digests"))
    assert json.loads(path.read_text()) == corpus_checksum(pairs)


def test_list_files_spreads_the_listing_in_chunks_and_reads_every_file_once(tmp_path):
    refs = [FileRef(f"books/tune-{i}-\u00e9\udcff.mid", f"/data/tune-{i}.mid") for i in range(2345)]
    listing = tmp_path / "listing.jsonl"
    listing.write_text("".join(ref.to_json() + "\n" for ref in refs), encoding="ascii")
    chunks = list(listing_chunks(str(listing), 1000))
    data = listing.read_bytes()
    assert [data[start:end].count(b"\n") for start, end in chunks] == [1000, 1000, 345]
    assert [start for start, _ in chunks] == [0] + [end for _, end in chunks[:-1]]
    assert chunks[-1][1] == len(data)
    assert [ref for chunk in chunks for ref in read_chunk(chunk, str(listing))] == refs
    with local_pipeline() as p:
        found = p | ListFiles(str(listing), chunk=100)
        assert_that(found, equal_to(refs))
