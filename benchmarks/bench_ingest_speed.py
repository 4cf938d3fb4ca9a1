"""Ingest speed per CPU-second, this tree against an older revision, side by side.

Issue 17's target: at least 500 files per CPU-second of the whole process tree at steady state
on the Nottingham MIDI with `--transpose=0:0` (start-up reported apart), the default ±3 too.
Steady state = the difference between a run over N files and a run over a few files, so Beam's
start-up (several CPU-seconds) cancels out. Each case runs `mg ingest --workers 1` in a fresh
process; the CPU is user + system of the whole tree (Beam's worker, the guard's parse child).

The older revision (`MG_BENCH_BEFORE`, default the commit before the context kernel was made
separable) is extracted with `git archive` and put first on PYTHONPATH, so both sides run with
the same interpreter and packages; the runs alternate, ROUNDS times, and the best of each counts
(the cores are shared).

    python -m benchmarks.run ingest_speed
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.bench_ingest import measure
from benchmarks.run import save_section

ROOT = Path(__file__).resolve().parents[1]
BEFORE = os.environ.get("MG_BENCH_BEFORE", "847998c")
FILES = int(os.environ.get("MG_BENCH_FILES", "600"))
FEW = 20
ROUNDS = int(os.environ.get("MG_BENCH_ROUNDS", "2"))
TARGET = 500.0  # files per CPU-second, --transpose=0:0


def revision_tree(rev: str) -> str:
    """An importable `mg` of revision `rev` (the package-dir layout rebuilt with links)."""
    root = Path(tempfile.mkdtemp(prefix=f"mg-bench-{rev}-"))
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, check=True)
    for name in ("cli", "pipelines", "zoo"):  # mg.cli is cli/, and so on (setuptools package-dir)
        (root / "musicgen" / name).symlink_to(root / name)
    (root / "path").mkdir()
    (root / "path" / "mg").symlink_to(root / "musicgen")
    return str(root)


def nottingham_midi() -> Path:
    try:
        from benchmarks.run import shared_data
    except ImportError:  # a checkout from before shared_data
        return ROOT.parent / "shared" / "data" / "nottingham" / "MIDI"
    return shared_data("nottingham", "MIDI")


def linked(files: list[Path], data: Path) -> str:
    """A folder of links to `files`, at their paths under `data`."""
    root = Path(tempfile.mkdtemp(prefix="mg-bench-corpus-"))
    for path in files:
        link = root / path.relative_to(data)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(path.resolve())
    return str(root)


def run_case(label: str, pythonpath: str, folder: str, transpose: str):
    env = {**os.environ, "PYTHONPATH": pythonpath, "OMP_NUM_THREADS": "1"}
    return measure(label, f"speed:{transpose}", folder, 1, env=env)


def main() -> str:
    data = nottingham_midi()
    files = sorted(data.rglob("*.mid"))
    spread = files[:: max(1, len(files) // FILES)][:FILES]
    many, few = linked(spread, data), linked(spread[:FEW], data)
    old = revision_tree(BEFORE)
    sides = {"before": f"{old}/path:{ROOT}", "after": str(ROOT)}
    best: dict[tuple[str, str, str], object] = {}
    for _ in range(ROUNDS):
        for transpose in ("0:0", "-3:3"):
            for side, path in sides.items():
                for size, folder in (("many", many), ("few", few)):
                    m = run_case(f"{side} {transpose} {size}", path, folder, transpose)
                    key = (side, transpose, size)
                    if key not in best or m.cpu < best[key].cpu:
                        best[key] = m
    for folder in (many, few, old):
        subprocess.run(["rm", "-rf", folder], check=True)
    return save_section("ingest_speed", _table(best))


def _steady(best, side: str, transpose: str) -> tuple[float, float]:
    many, few = best[(side, transpose, "many")], best[(side, transpose, "few")]
    per_file = (many.cpu - few.cpu) / (many.files - few.files)
    startup = few.cpu - per_file * few.files
    return 1 / per_file, startup


def _table(best) -> str:
    lines = [
        f"## Ingest speed per CPU-second (issue 17; this tree vs {BEFORE}, Nottingham MIDI)",
        "",
        f"`mg ingest --workers 1` over {FILES} files and over {FEW}; steady state = the "
        "difference of the two (start-up cancels), CPU = user + system of the process tree, "
        f"best of {ROUNDS} interleaved rounds, 2 shared cores.",
        "",
        "| run | files | segments | wall s | CPU s | files/s | segments/s | peak RSS MB | load |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *(m.row() for m in best.values()),
        "",
        "| --transpose | before files/CPU-s | after files/CPU-s | ratio | start-up CPU-s before / after | target |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for transpose in ("0:0", "-3:3"):
        (old, old_start), (new, new_start) = (_steady(best, s, t) for s, t in _sides(transpose))
        target = f">= {TARGET:.0f}" if transpose == "0:0" else "reported"
        lines.append(
            f"| {transpose} | {old:.0f} | {new:.0f} | {new / old:.2f}x "
            f"| {old_start:.1f} / {new_start:.1f} | {target} |"
        )
    return "\n".join(lines)


def _sides(transpose: str) -> list[tuple[str, str]]:
    return [("before", transpose), ("after", transpose)]


def speed_run(folder: str, out: str, transpose: str) -> dict:
    from mg.pipelines.ingest import ingest
    from mg.pipelines.options import IngestConfig, parse_transpose

    config = IngestConfig(
        inputs=(folder,), out=out, workers=1, transpose=parse_transpose(transpose)
    )
    manifest = ingest(config).manifest
    segments = sum(s["segments"] for s in manifest["splits"].values())
    return {"files": manifest["corpus"]["files"], "segments": segments}


if __name__ == "__main__":
    sys.exit("run it with `python -m benchmarks.run ingest_speed`")
