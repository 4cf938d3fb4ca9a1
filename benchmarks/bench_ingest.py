"""Ingest: the Beam pipeline against a plain loop, workers, and memory as the corpus grows.

On the Nottingham MIDI (3,089 files), each run in its own process, with the wall time, the CPU
time of the whole process tree and its peak RSS (summed over the tree, sampled every 0.1 s):

(a) `mg ingest` with 1 worker against a plain loop doing the same encode (read_file, context,
    segments, v1 rows) and one Parquet write: the cost of Beam, the crash guard, the spill,
    dedup, splits and shards. Target: at most 1.5x.
(b) 2 worker processes against 1. Target: at least 1.6x faster.
(c) peak memory with the corpus x1 and x10 (the same files linked ten times; the pipeline
    reads, encodes and spills all of them, then keeps one copy of each piece). Target: flat.

No transposition (--transpose=0:0) so that both sides write the same rows. The machine is
shared: the load average during each run is reported beside it.

    python -m benchmarks.run ingest
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.run import save_section, shared_data

SCALE_BASE = 500  # files of the x1 / x10 memory runs (x10 of all 3,089 takes ~10 CPU-minutes)
ROUNDS = 2  # loop, 1 worker, 2 workers, interleaved; the best wall of each counts (shared cores)


@dataclass(frozen=True)
class Measured:
    name: str
    files: int
    segments: int
    wall: float
    cpu: float
    rss_mb: float
    load: float

    def row(self) -> str:
        return (
            f"| {self.name} | {self.files} | {self.segments} | {self.wall:.1f} | {self.cpu:.1f} "
            f"| {self.files / self.wall:.1f} | {self.segments / self.wall:.1f} "
            f"| {self.rss_mb:.0f} | {self.load:.1f} |"
        )


def plain_loop(folder: str, out: str) -> dict:
    """The baseline: one process, no Beam, the same rows into one Parquet file."""
    import pyarrow.parquet as pq

    from mg.data.schema import arrow_schema, segments_table
    from mg.pipelines.tensors import segment_rows
    from mg.pipelines.transforms_write import PARQUET_OPTIONS, ROW_GROUP_ROWS
    from mg.representation import read_file
    from mg.representation.grid import Grid

    grid, files, rows, written = Grid(), sorted(Path(folder).rglob("*.mid")), [], 0
    os.makedirs(out, exist_ok=True)
    with pq.ParquetWriter(f"{out}/all.parquet", arrow_schema(grid), **PARQUET_OPTIONS) as writer:
        for path in files:
            for piece in read_file(path, grid, str(path)).pieces:
                rows += segment_rows(piece, 0, piece.notes, grid)
                if len(rows) >= ROW_GROUP_ROWS:
                    writer.write_table(segments_table(rows, grid))
                    written, rows = written + len(rows), []
        writer.write_table(segments_table(rows, grid))
    return {"files": len(files), "segments": written + len(rows)}


def pipeline(folder: str, out: str, workers: int) -> dict:
    from mg.pipelines.ingest import ingest
    from mg.pipelines.options import IngestConfig

    config = IngestConfig(inputs=(folder,), out=out, workers=workers, transpose=(0, 0))
    manifest = ingest(config).manifest
    segments = sum(s["segments"] for s in manifest["splits"].values())
    return {"files": manifest["corpus"]["files"], "segments": segments}


def measure(
    name: str, mode: str, folder: str, workers: int = 1, env: dict | None = None
) -> Measured:
    """Run one case in a fresh process; sample the RSS of its process tree until it ends."""
    out = tempfile.mkdtemp(prefix="mg-bench-ingest-")
    args = [
        sys.executable,
        "-m",
        "benchmarks.bench_ingest",
        mode,
        folder,
        f"{out}/ds",
        str(workers),
    ]
    started = time.monotonic()
    child = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env)
    code, usage, peak, load = watch(child, every=0.1)
    wall = time.monotonic() - started
    output = child.stdout.read()
    subprocess.run(["rm", "-rf", out], check=True)
    if code:
        raise RuntimeError(f"{name}: exit code {code}")
    result = json.loads(output.strip().splitlines()[-1])
    cpu = usage.ru_utime + usage.ru_stime
    return Measured(name, result["files"], result["segments"], wall, cpu, peak / 2**20, load)


def watch(child: subprocess.Popen, every: float) -> tuple[int, Any, int, float]:
    """Wait for `child`, sampling its process tree's RSS and the load average every `every`
    seconds: (exit code, resource usage of the whole tree, peak RSS bytes, highest load)."""
    peak, loads = 0, []
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)  # usage covers the whole tree
        if pid:
            child.returncode = os.waitstatus_to_exitcode(status)
            return child.returncode, usage, peak, max(loads, default=os.getloadavg()[0])
        peak = max(peak, tree_rss(child.pid))
        loads.append(os.getloadavg()[0])
        time.sleep(every)


def tree_rss(root: int) -> int:
    """Bytes resident in `root` and all its descendants, from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parents[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        children = [p for p, parent in parents.items() if parent == pid and p not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(_rss(pid) for pid in tree)


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


def linked_corpus(files: list[Path], copies: int, data: Path) -> str:
    """A folder of `copies` sub-folders, each with links to `files` (in `data`)."""
    root = Path(tempfile.mkdtemp(prefix="mg-bench-corpus-"))
    for copy in range(copies):
        for path in files:
            link = root / f"copy{copy:02d}" / path.relative_to(data)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(path.resolve())
    return str(root)


def main() -> str:
    data = shared_data("nottingham", "MIDI")
    all_files = sorted(data.rglob("*.mid"))
    full = linked_corpus(all_files, 1, data)
    base = all_files[:: len(all_files) // SCALE_BASE][:SCALE_BASE]  # spread over the sub-folders
    x1, x10 = linked_corpus(base, 1, data), linked_corpus(base, 10, data)
    rounds = []
    for _ in range(ROUNDS):
        rounds.append(
            [
                measure("plain loop, 1 process", "loop", full),
                measure("mg ingest, 1 worker", "ingest", full, 1),
                measure("mg ingest, 2 workers", "ingest", full, 2),
            ]
        )
    small = measure(f"mg ingest, 1 worker, {SCALE_BASE} files x1", "ingest", x1, 1)
    large = measure(f"mg ingest, 1 worker, {SCALE_BASE} files x10", "ingest", x10, 1)
    for folder in (full, x1, x10):
        subprocess.run(["rm", "-rf", folder], check=True)
    loop, one, two = (min((r[i] for r in rounds), key=lambda m: m.wall) for i in range(3))
    runs = [m for r in rounds for m in r] + [small, large]
    return save_section("ingest", _table(runs, loop, one, two, small, large))


def _table(runs, loop, one, two, small, large) -> str:
    lines = [
        "## Ingest (`mg ingest` vs a plain loop; Nottingham MIDI)",
        "",
        f"{os.cpu_count()} cores shared with other work: the load average (1 min, highest seen "
        "during the run) is in the last column. CPU = user + system seconds of the process tree. "
        f"{ROUNDS} interleaved rounds of the first three runs; ratios use the best wall time of "
        "each and, for CPU, the same runs. No transposition, so both sides write the same rows "
        "(the pipeline drops 35 duplicate tunes the loop keeps). x10 = the same files linked ten "
        "times: all are read, encoded and spilled, one copy of each tune is written.",
        "",
        "| run | files | segments | wall s | CPU s | files/s | segments/s | peak RSS MB | load |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *(r.row() for r in runs),
        "",
        "| ratio | measured | target |",
        "| --- | ---: | ---: |",
        f"| (a) overhead, 1 worker / plain loop, wall | {one.wall / loop.wall:.2f}x | <= 1.5x |",
        f"| (a) overhead, 1 worker / plain loop, CPU | {one.cpu / loop.cpu:.2f}x | <= 1.5x |",
        f"| (b) speed-up, 2 workers vs 1, wall | {one.wall / two.wall:.2f}x | >= 1.6x |",
        f"| (b) cores used, 2 workers (CPU / wall) | {two.cpu / two.wall:.2f} | 2 at best |",
        f"| (c) peak RSS, x10 / x1 corpus | {large.rss_mb / small.rss_mb:.2f}x | flat (1x) |",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    mode, folder, out, workers = sys.argv[1:5]
    if mode.startswith("speed:"):  # bench_ingest_speed: one worker, the given transposition
        from benchmarks.bench_ingest_speed import speed_run

        result = speed_run(folder, out, mode.removeprefix("speed:"))
    elif mode == "loop":
        result = plain_loop(folder, out)
    else:
        result = pipeline(folder, out, int(workers))
    print(json.dumps(result))
