"""Where a file's CPU goes in ingest: each step of the per-file work alone, against the pipeline.

Issue 17 asks for 500 files per CPU-second of the whole process tree (2 ms a file). This
benchmark times, in one process over the Nottingham MIDI, every step a file goes through in
`mg ingest` (the same functions the pipeline calls, in its order), each step's best of ROUNDS
passes, and then the pipeline itself (`mg ingest --workers 1`, steady state: a run over all the
files less a run over FEW, so Beam's start-up cancels). The sum of the steps is what a file
would cost if Beam, the stages' glue and the process tree's scheduling cost nothing: its
inverse is the ceiling of files per CPU-second for this design; the pipeline less that sum is
what Beam and the glue add.

    python -m benchmarks.run ingest_floor
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from benchmarks.run import save_section, shared_data

ROUNDS = int(os.environ.get("MG_BENCH_ROUNDS", "3"))
FEW = 20
TARGET = 500.0  # files per CPU-second at --transpose=0:0


def step_costs(files: list[Path], shifts: tuple[int, ...]) -> dict[str, float]:
    """ms a file of each step, the best of ROUNDS passes over `files`."""
    best: dict[str, float] = {}
    for _ in range(ROUNDS):
        for name, seconds in _one_pass(files, shifts).items():
            best[name] = min(best.get(name, float("inf")), seconds * 1000 / len(files))
    return best


def _one_pass(files: list[Path], shifts: tuple[int, ...]) -> dict[str, float]:
    import io

    import numpy as np
    import pyarrow.parquet as pq

    from mg.data.schema import arrow_schema, columns_table
    from mg.pipelines.guard import GuardedCall
    from mg.pipelines.options import DEFAULT_PARSER
    from mg.pipelines.plan import fact_shifts, piece_facts
    from mg.pipelines.spill import BlobReader, BlobWriter
    from mg.pipelines.tensors import row_onsets, stacked_columns
    from mg.pipelines.transforms_write import PARQUET_OPTIONS, ROW_GROUP_ROWS
    from mg.representation import read_bytes
    from mg.representation.files import read_regular_file
    from mg.representation.grid import Grid

    grid, spent = Grid(), defaultdict(float)
    clock = time.process_time

    def timed(name, function, *args):
        started = clock()
        value = function(*args)
        spent[name] += clock() - started
        return value

    datas = []
    for path in files:
        data = timed("read the file, its digest", read_regular_file, str(path), 1 << 30, path.name)
        timed("read the file, its digest", hashlib.blake2b(data, digest_size=16).hexdigest)
        datas.append((str(path), data))
    # the parse as the pipeline runs it: in the guard's child, the piece pickled back through
    # a pipe (the child's CPU), and the parent's side of that (its write, wait, read, unpickle)
    with GuardedCall(DEFAULT_PARSER, idle_s=None) as guard:  # one child, whatever stalls
        guard(datas[0][1], datas[0][0], grid)  # the child started (start-up is not per file)
        pid = guard.pid
        before, started = _process_cpu(pid), clock()
        for source, data in datas:
            guard(data, source, grid)
        spent["parse, in the guard's child (its CPU)"] = _process_cpu(pid) - before
        spent["the guard's parent: pipe, unpickle"] = clock() - started
    folder = tempfile.mkdtemp(prefix="mg-bench-floor-")
    writer, refs, pieces = BlobWriter(folder), [], 0
    facts_shifts = fact_shifts(shifts)
    for source, data in datas:
        for piece in read_bytes(data, source, grid).pieces:  # (timed above, in the guard)
            pieces += 1
            timed("fingerprints (opening, phrases)", piece.phrase_hashes)
            timed("piece_id (XXH3 of the notes)", lambda p=piece: p.piece_id)
            blob = timed(
                "park: pickle (notes packed)", pickle.dumps, piece, pickle.HIGHEST_PROTOCOL
            )
            path, offset = timed("park: spill", writer.append, blob)
            timed("facts", piece_facts, piece, grid, facts_shifts, path, offset, len(blob))
            refs.append((path, offset, len(blob), piece.group))
    writer.close()
    reader, schema, buffer, buffered = BlobReader(), arrow_schema(grid), [], 0
    sink = pq.ParquetWriter(io.BytesIO(), schema, **PARQUET_OPTIONS)

    def write_row_group(parts):
        table = timed("row group table (columns_table)", columns_table, parts, schema)
        timed("Parquet (zstd, checksums)", sink.write_table, table)

    for path, offset, size, group in refs:
        parked = timed("read back: spill", reader.read, path, offset, size)
        piece = timed("read back: unpickle", pickle.loads, parked)
        columns = timed("rows (stacked_columns)", stacked_columns, piece, shifts, grid, group)
        rows = len(columns["start"])
        starts = columns["start"][: rows // len(shifts)]
        timed("onset histogram", row_onsets, piece.notes, starts, grid.segment_steps, shifts)
        buffer.append(columns)
        buffered += rows
        if buffered >= ROW_GROUP_ROWS:
            write_row_group(buffer)
            buffer, buffered = [], 0
    if buffer:
        write_row_group(buffer)
    timed("Parquet (zstd, checksums)", sink.close)
    reader.close()
    shutil.rmtree(folder)
    assert pieces and np.isfinite(sum(spent.values()))
    return dict(spent)


def _process_cpu(pid: int) -> float:
    """User + system CPU-seconds of a live process (Linux's /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pipeline_ms(many: str, few: str, transpose: str) -> float:
    """Steady-state ms a file of `mg ingest --workers 1` (CPU of the whole tree)."""
    from benchmarks.bench_ingest import measure

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = {
        size: min(
            (measure(size, f"speed:{transpose}", folder, 1, env=env) for _ in range(ROUNDS)),
            key=lambda m: m.cpu,
        )
        for size, folder in (("many", many), ("few", few))
    }
    return (runs["many"].cpu - runs["few"].cpu) * 1000 / (runs["many"].files - runs["few"].files)


def main() -> str:
    data = shared_data("nottingham", "MIDI")
    files = sorted(data.rglob("*.mid"))
    from benchmarks.bench_ingest_speed import linked

    many, few = linked(files, data), linked(files[:FEW], data)
    try:
        cases = {"0:0": (0,), "-3:3": tuple(range(-3, 4))}
        steps = {t: step_costs(files, shifts) for t, shifts in cases.items()}
        whole = {t: pipeline_ms(many, few, t) for t in cases}
    finally:
        for folder in (many, few):
            shutil.rmtree(folder)
    return _table(steps, whole, len(files))


def _table(steps: dict[str, dict[str, float]], whole: dict[str, float], files: int) -> str:
    names = list(steps["0:0"])
    lines = [
        "## Where a file's CPU goes in ingest (issue 17: the steps alone against the pipeline)",
        "",
        f"Nottingham MIDI, {files} files. Each step of the per-file work timed alone in one "
        f"process (best of {ROUNDS} passes, ms a file); the pipeline is `mg ingest --workers 1`, "
        f"all files less {FEW} (start-up cancels), CPU of the whole process tree, best of "
        f"{ROUNDS}.",
        "",
        "| step | 0:0 ms | -3:3 ms |",
        "| --- | ---: | ---: |",
        *(f"| {n} | {steps['0:0'][n]:.3f} | {steps['-3:3'].get(n, 0):.3f} |" for n in names),
    ]
    sums = {t: sum(s.values()) for t, s in steps.items()}
    lines += [
        f"| **sum: the steps alone** | **{sums['0:0']:.2f}** | **{sums['-3:3']:.2f}** |",
        f"| the pipeline, whole tree | {whole['0:0']:.2f} | {whole['-3:3']:.2f} |",
        "| Beam, the glue, scheduling (pipeline - sum) "
        f"| {whole['0:0'] - sums['0:0']:.2f} | {whole['-3:3'] - sums['-3:3']:.2f} |",
        "",
        "| --transpose | pipeline files/CPU-s | ceiling if Beam and glue were free | target |",
        "| --- | ---: | ---: | ---: |",
        f"| 0:0 | {1000 / whole['0:0']:.0f} | {1000 / sums['0:0']:.0f} | >= {TARGET:.0f} |",
        f"| -3:3 | {1000 / whole['-3:3']:.0f} | {1000 / sums['-3:3']:.0f} | reported |",
    ]
    return save_section("ingest_floor", "\n".join(lines))


if __name__ == "__main__":
    print(main())
