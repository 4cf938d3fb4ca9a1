"""Ingest's peak memory with hostile files in the corpus, beside the same corpus without them.

The hostile folder holds what sank ingest before issue 18: a FIFO and a link to /dev/zero
under music suffixes, a link to /dev/urandom, a socket, sparse files of 1 GB and 70 MB (no disk,
any size claimed), a real 48 MB ABC file just under the 64 MB cap (read and parsed whole), and
names that are not UTF-8. Both runs use 2 workers; the peak RSS is summed over the process tree
(driver, Beam workers, crash-guard children). Target: under 1.5 GB, near the clean run.

    python -m benchmarks.run hostile
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

from benchmarks.bench_ingest import DATA, linked_corpus, measure
from benchmarks.run import save_section
from mg.data.corpus import music21_corpus_dir

FILES = 300  # Nottingham tunes in both runs
TARGET_MB = 1500


def hostile_folder(folder: Path) -> None:
    folder.mkdir()
    os.mkfifo(folder / "pipe.mid")
    (folder / "zero.mid").symlink_to("/dev/zero")
    (folder / "random.abc").symlink_to("/dev/urandom")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(folder / "socket.midi"))
    listener.close()
    for name, size in [("sparse.mid", 1 << 30), ("sparse.abc", 70 << 20)]:
        with open(folder / name, "wb") as handle:
            handle.truncate(size)
    tune = (music21_corpus_dir() / "ryansMammoth" / "DeerFootHornpipe.abc").read_text()
    (folder / "big.abc").write_text("% padding line\n" * (48 << 20 >> 4) + "\n" + tune)
    other = (music21_corpus_dir() / "ryansMammoth" / "HarlequinHornpipe.abc").read_bytes()
    with open(os.fsencode(folder) + b"/caf\xe9.abc", "wb") as handle:
        handle.write(other)


def main() -> str:
    files = sorted(DATA.rglob("*.mid"))
    chosen = files[:: len(files) // FILES][:FILES]
    clean = linked_corpus(chosen, 1)
    hostile = linked_corpus(chosen, 1)
    hostile_folder(Path(hostile) / "hostile")
    try:
        base = measure(f"{FILES} tunes", "ingest", clean, 2)
        worst = measure(f"{FILES} tunes + hostile files", "ingest", hostile, 2)
    finally:
        for folder in (clean, hostile):
            shutil.rmtree(folder, ignore_errors=True)
    return save_section("hostile", _table(base, worst))


def _table(base, worst) -> str:
    lines = [
        "## Ingest with hostile files (issue 18)",
        "",
        "2 workers; peak RSS summed over the process tree; load = the highest 1-minute load "
        "average seen during the run (2 shared cores).",
        "",
        "| run | files | segments | wall s | CPU s | files/s | segments/s | peak RSS MB | load |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        base.row(),
        worst.row(),
        "",
        "| ratio | measured | target |",
        "| --- | ---: | ---: |",
        f"| peak RSS, hostile / clean | {worst.rss_mb / base.rss_mb:.2f}x | near 1x |",
        f"| peak RSS, hostile | {worst.rss_mb:.0f} MB | < {TARGET_MB} MB |",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(main())
