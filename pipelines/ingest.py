"""`mg ingest`: a corpus of MIDI/ABC/MusicXML files → a sharded Parquet dataset, with Apache Beam.

    ListFiles → ReadFiles → ParseFiles (crash-guarded) → SplitTunes → ParkPieces (the piece,
    its phrases and its facts spilled) → PlanShards (one step: split groups joined, splits,
    transpositions, rows, duplicates, shards) → WriteShards (the rows are built there, from
    the parked piece)
    (+ WriteRejected for the dead letters of every step, CorpusChecksum over the bytes read)

`build_pipeline` only wires the named transforms; `ingest` stages the run, runs it, writes the
manifest and publishes the dataset atomically. Never imports torch: Beam workers import this.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.runners.runner import PipelineState

from mg.data.schema import MANIFEST
from mg.pipelines.counters import read_counters
from mg.pipelines.failures import failure_line
from mg.pipelines.listing import list_inputs
from mg.pipelines.manifest import build_manifest, summary_line
from mg.pipelines.options import IngestConfig, IngestError, local_runner, pipeline_options
from mg.pipelines.output import (
    STAGING_PREFIX,
    check_out,
    check_same_corpus,
    delete_if_exists,
    delete_tree,
    fill_empty_shards,
    join,
    mkdirs,
    out_lock,
    prepare_out,
    publish,
    read_json,
    remove_claim,
    shard_rows,
    write_json,
)
from mg.pipelines.progress import ProgressLine
from mg.pipelines.transforms_read import ListFiles, ParseFiles, ReadFiles, SplitTunes
from mg.pipelines.transforms_tensor import ParkPieces, PlanShards
from mg.pipelines.transforms_write import (
    CorpusChecksum,
    WriteRejected,
    WriteShards,
    write_lines,
)

CORPUS_FILE = "corpus.json"
LISTING_FILE = "listing.jsonl"
REJECTED_FILE = "rejected/rejected.jsonl"


@dataclass(frozen=True)
class IngestReport:
    manifest: dict
    summary: str


@dataclass(frozen=True)
class Listed:
    """What the driver keeps of the listing once it is written beside the run: the files
    themselves (100,000 FileRefs held ~30 MB of the driver all run long) are not kept."""

    files: int
    listing_hash: str
    ignored: int


def build_pipeline(
    p: beam.Pipeline,
    config: IngestConfig,
    staging: str,
    progress: str | None = None,
) -> None:
    """Wire the ingest transforms into `p`; reads `staging`/listing.jsonl, writes under it."""
    grid = config.grid
    listing = join(staging, LISTING_FILE)
    read = (
        p
        | "ListFiles" >> ListFiles(listing)
        | "ReadFiles" >> ReadFiles(progress, config.max_file_bytes)
    )
    parsed = read.files | "ParseFiles" >> ParseFiles(
        grid, config.parser, config.parse_timeout_s, progress
    )
    tunes = parsed.results | "SplitTunes" >> SplitTunes(grid)
    spill = join(staging, "spill")
    folders = (join(spill, "pieces"), join(spill, "phrases"), join(spill, "facts"))
    parked = tunes.pieces | "ParkPieces" >> ParkPieces(folders, grid, config.shifts)
    planned = (parked.facts, parked.phrases) | "PlanShards" >> PlanShards(
        join(spill, "plan"), config.split, config.shifts, config.transpose_all, config.shards
    )
    _ = planned.shards | "WriteShards" >> WriteShards(staging, grid, progress)
    rejected = (read.rejected, parsed.rejected, tunes.rejected, planned.rejected) | "Rejected" >> (
        beam.Flatten()
    )
    _ = rejected | "WriteRejected" >> WriteRejected(join(staging, REJECTED_FILE), progress)
    _ = read.digests | "CorpusChecksum" >> CorpusChecksum(
        join(staging, CORPUS_FILE), join(spill, "digests")
    )


def ingest(config: IngestConfig) -> IngestReport:
    """Run ingest end to end; raises IngestError (one line) when nothing usable comes out."""
    started = time.monotonic()
    _quiet_blas()
    listing = list_inputs(config.inputs)
    listed = Listed(len(listing.files), listing.listing_hash(), listing.ignored)
    options = pipeline_options(config)  # bad Beam options fail before anything is written
    created_out = "://" not in config.out and not os.path.exists(config.out)
    check_out(config.out)  # before the lock file: a user's folder is refused untouched
    with out_lock(config.out):
        prepare_out(config.out, listed.listing_hash, config.overwrite)
        staging = join(config.out, f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}")
        mkdirs(staging)
        try:
            write_lines((ref.to_json() for ref in listing.files), join(staging, LISTING_FILE))
            del listing
            counters = _run(config, options, listed, staging)
            manifest = _finish(config, listed, staging, counters)
        except BaseException:
            delete_tree(staging)  # a failed run cleans up; a killed one is cleared by the next
            if created_out:
                remove_claim(config.out)
            raise
    return IngestReport(manifest, summary_line(manifest, config.out, time.monotonic() - started))


def _quiet_blas() -> None:
    """One OpenBLAS thread in the processes ingest starts (parse children, Beam workers) and
    in scipy's, loaded by the plan: numpy's and scipy's OpenBLAS each start a thread for every
    core but one, which polls for work while the run lasts (~0.8% of a core each, in every
    process: 2.4% of a run's CPU by perf), and ingest has no matrix product to give them. A
    value the user set stays; numpy's pool in this process, loaded already, is left as it is."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _run(config: IngestConfig, options, listed: Listed, staging: str) -> dict[str, int]:
    # the workers of a local run write their counts to a local folder; a cluster shows its own UI
    progress = tempfile.mkdtemp(prefix="mg-progress-") if config.progress and config.local else None
    runner = local_runner(config) if config.local else None
    pipeline = beam.Pipeline(runner=runner, options=options)
    build_pipeline(pipeline, config, staging, progress)
    shown = ProgressLine(progress, listed.files) if progress else nullcontext()
    try:
        with shown, _beam_warnings_muted():
            result = pipeline.run()
            state = result.wait_until_finish()
    except IngestError:
        raise
    except Exception as exc:  # Beam wraps a worker's error, traceback and all, in RuntimeError
        raise IngestError(f"{config.out}: the ingest pipeline failed: {failure_line(exc)}") from exc
    finally:
        if progress:
            delete_tree(progress)
    if state not in (PipelineState.DONE, None):
        raise IngestError(f"the {config.runner} pipeline ended in state {state}")
    return read_counters(result)


@contextmanager
def _beam_warnings_muted() -> Iterator[None]:
    """Beam's runner warns about its own defaults (worker mode, options); errors still show."""
    beam_logger = logging.getLogger("apache_beam")
    level = beam_logger.level
    beam_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        beam_logger.setLevel(level)


def _finish(config: IngestConfig, listed: Listed, staging: str, counters: dict) -> dict:
    corpus_path = join(staging, CORPUS_FILE)
    corpus = {**read_json(corpus_path), "listing": listed.listing_hash}
    corpus["ignored"] = listed.ignored
    check_same_corpus(config.out, corpus["checksum"], config.overwrite)
    for name in (CORPUS_FILE, LISTING_FILE):
        delete_if_exists(join(staging, name))
    delete_tree(join(staging, "spill"))
    if not shard_rows(staging):  # writers write only shards that have rows
        raise IngestError(_nothing_usable(listed, counters))
    fill_empty_shards(staging, config.grid, config.shards)
    shards = shard_rows(staging)
    manifest = build_manifest(config, counters, corpus, shards, _run_id(staging))
    write_json(join(staging, MANIFEST), manifest)
    publish(staging, config.out)
    return manifest


def _run_id(staging: str) -> str:
    return staging.rstrip("/").rsplit("/", 1)[-1].removeprefix(STAGING_PREFIX)


def _nothing_usable(listed: Listed, counters: dict[str, int]) -> str:
    reasons = {k[len("rejected_") :]: v for k, v in counters.items() if k.startswith("rejected_")}
    named = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]))
    return (
        f"nothing usable in {_plural(listed.files, 'file')}"
        + (f" (rejected: {named})" if named else "")
        + (
            f", {counters['pieces_too_short']} tunes under one bar"
            if counters.get("pieces_too_short")
            else ""
        )
    )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")
