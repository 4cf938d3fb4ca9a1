"""A corpus of 100,000 MIDI files made from real pieces, and `mg ingest` over it (issue 17, part 4).

Each Nottingham MIDI file (3,089) gives up to 48 variants: transposed by -6..+5 semitones and
rotated to start at the bar line nearest 0, 1/3, 1/2 or 2/3 of the tune (the B part first, and
so on), each at a tempo scaled by one of four factors in turn. Tempo does not move notes on the
beat grid (it only makes the files differ); a rotation that lands on the first bar line gives
the original again, rejected as `duplicate`, which is part of what is measured. Nothing is committed: the corpus is written under a temporary folder (or
--corpus) and deleted after.

Measured, with 2 workers and `--transpose=0:0`, for the 3,089 originals and for the 100k corpus,
each in a fresh process: wall and CPU of the process tree, files per second per core, peak RSS
of the tree, output bytes, and the per-file CPU ratio of the two runs (target: flat, 1x).

    python -m benchmarks.corpus_100k [--files 100000] [--keep]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_ingest import Measured, watch
from benchmarks.bench_ingest_speed import nottingham_midi
from benchmarks.run import gather, save_section

SHIFTS = range(-6, 6)
ROTATIONS = (0.0, 1 / 3, 1 / 2, 2 / 3)
TEMPI = (1.0, 0.8, 1.25, 1.1)


def variants(path: Path):
    """(name, MIDI bytes) of one file's variants: transposition × rotation, tempo varied."""
    from symusic import Score

    score = Score(str(path))
    end = score.end()
    downbeats = [int(t) for t in score.get_downbeats()] or [0]
    rotated = []
    for rotation in ROTATIONS:
        cut = min(downbeats, key=lambda t: abs(t - rotation * end)) if rotation else 0
        rotated.append(_rotate(score, cut, end) if cut else score)
    index = 0
    for shift in SHIFTS:
        for rotation, base in zip(ROTATIONS, rotated, strict=True):
            tempo = TEMPI[index % len(TEMPI)]
            index += 1
            timed = base.copy()
            for change in timed.tempos:
                change.qpm = change.qpm * tempo
            name = f"{path.stem}_r{int(rotation * 100):02d}_t{int(tempo * 100)}_s{shift:+d}.mid"
            yield name, timed.shift_pitch(shift).dumps_midi()


def _rotate(score, cut: int, end: int):
    """The tune from `cut` to its end, then from its start to `cut`."""
    out = score.copy()
    for track, source in zip(out.tracks, score.tracks, strict=True):
        tail = source.clip(cut, end + 1).shift_time(-cut)
        head = source.clip(0, cut).shift_time(end - cut)
        track.notes.clear()
        track.notes.extend(tail.notes)
        track.notes.extend(head.notes)
        track.notes.sort()
    return out


def build(folder: Path, files: int) -> int:
    """Write `files` variants, spread over every source file (round-robin), into `folder`."""
    sources = sorted(nottingham_midi().rglob("*.mid"))
    generators = [variants(p) for p in sources]
    written = 0
    while written < files and generators:
        alive = []
        for gen in generators:
            item = next(gen, None)
            if item is None:
                continue
            alive.append(gen)
            name, data = item
            sub = folder / f"{written % 1000:03d}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / name).write_bytes(data)
            written += 1
            if written >= files:
                break
        generators = alive
    return written


def folder_bytes(path: str) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def run(name: str, corpus: str, workers: int = 2) -> tuple[Measured, int]:
    """`mg ingest` in a fresh process: its measurements and the dataset's bytes."""
    out = tempfile.mkdtemp(prefix="mg-bench-100k-out-")
    args = [sys.executable, "-m", "benchmarks.corpus_100k", "--ingest", corpus, out, str(workers)]
    started = time.monotonic()
    child = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    code, usage, peak, load = watch(child, every=0.5)
    wall = time.monotonic() - started
    if code:
        raise RuntimeError(f"{name}: exit code {code}")
    result = json.loads(child.stdout.read().strip().splitlines()[-1])
    size = folder_bytes(f"{out}/ds")
    shutil.rmtree(out, ignore_errors=True)
    cpu = usage.ru_utime + usage.ru_stime
    measured = Measured(name, result["files"], result["segments"], wall, cpu, peak / 2**20, load)
    return measured, size


def ingest_run(corpus: str, out: str, workers: int) -> dict:
    from mg.pipelines.ingest import ingest
    from mg.pipelines.options import IngestConfig

    config = IngestConfig(inputs=(corpus,), out=out, workers=workers, transpose=(0, 0))
    manifest = ingest(config).manifest
    segments = sum(s["segments"] for s in manifest["splits"].values())
    return {"files": manifest["corpus"]["files"], "segments": segments}


def main(files: int = 100_000, corpus: str | None = None, keep: bool = False) -> str:
    root = Path(corpus or tempfile.mkdtemp(prefix="mg-corpus-100k-"))
    started = time.monotonic()
    found = sum(1 for _ in root.rglob("*.mid"))
    made = found or build(root, files)
    build_s = None if found else time.monotonic() - started
    runs = [
        run("Nottingham MIDI, 2 workers", f"{nottingham_midi()}/"),
        run(f"{made:,} variants, 2 workers", str(root)),
    ]
    if not keep and corpus is None:  # a folder the user named is theirs
        shutil.rmtree(root, ignore_errors=True)
    return save_section("corpus_100k", _table(runs, made, build_s))


def _table(runs, made: int, build_s: float | None) -> str:
    """The section of RESULTS; `build_s` None: the corpus was there already (`--corpus`)."""
    (small, small_bytes), (large, large_bytes) = runs
    built = "built earlier" if build_s is None else f"written in {build_s:.0f} s"
    ratio = (large.cpu / large.files) / (small.cpu / small.files)
    lines = [
        "## 100,000 files (issue 17, part 4; `benchmarks/corpus_100k.py`)",
        "",
        f"{made:,} MIDI files made from the 3,089 Nottingham tunes (transposed -6..+5, rotated "
        f"at a bar line, tempo scaled; {built}), ingested with 2 workers, "
        "`--transpose=0:0`. CPU = user + system of the process tree.",
        "",
        "| run | files | segments | wall s | CPU s | files/s | segments/s | peak RSS MB | load |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *(m.row() for m, _ in runs),
        "",
        "| figure | value |",
        "| --- | ---: |",
        f"| files/s per core (100k) | {large.files / large.wall / 2:.1f} |",
        f"| CPU s per file, 100k / 3,089 | {ratio:.2f}x (target flat) |",
        f"| peak RSS, 100k / 3,089 | {large.rss_mb / small.rss_mb:.2f}x |",
        f"| dataset bytes, 3,089 / 100k | {small_bytes / 2**20:.0f} MB / {large_bytes / 2**20:.0f} MB |",
        f"| dataset bytes per segment, 100k / 3,089 | "
        f"{(large_bytes / large.segments) / (small_bytes / small.segments):.2f}x |",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--ingest"]:  # one measured run (see `run`)
        print(json.dumps(ingest_run(sys.argv[2], f"{sys.argv[3]}/ds", int(sys.argv[4]))))
        sys.exit()
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--corpus", help="folder to build in (or reuse); default a temp folder")
    parser.add_argument("--keep", action="store_true", help="keep a corpus built here")
    args = parser.parse_args()
    print(main(args.files, args.corpus, args.keep))
    print(f"wrote {gather()}")
