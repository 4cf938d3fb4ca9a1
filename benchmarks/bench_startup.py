"""`mg generate` start-up: the wall time of the command minus the sampling time it reports.

What a user waits for besides sampling is imports and resolving the model: for a model folder,
torch and reading the folder; for a `models:/` URI, also MLflow, one registry round trip and
(the first time only) the artifact download. Targets: ≤ 3 s for a folder, ≤ 5 s for a
`models:/` URI on the local SQLite store. The baseline measured beside it is the floor no
generation can go under, `python -c "import torch"`.

The model is a three-branch `tiny` with random weights (start-up does not depend on training),
saved as a folder and logged and registered in a fresh SQLite store exactly as `mg train` does.
Each figure is the best of REPEATS runs (the machine is shared). On a loaded machine the wall
figures say little, so start-up is also measured in CPU seconds: the process's CPU time for
one piece of one step (`--steps 1 --num 1`), where sampling is nothing.

    python -m benchmarks.run startup
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.run import save_section

REPEATS = 2
MG = str(Path(sys.executable).parent / "mg")
NAME = "bench-startup"
ARGS = ["--steps", "256", "--num", "4", "--seed", "1"]
NOTHING = ["--steps", "1", "--num", "1", "--seed", "1"]  # start-up alone, in CPU seconds
SAMPLED = re.compile(r"sampled in ([0-9.]+) s")


def make_model(work: Path) -> tuple[Path, str]:
    """A tiny three-branch model as a folder, and the same model registered in a SQLite store
    in `work` (alias champion); returns the folder and the store's URI."""
    from mg.models import registry
    from mg.models.saving import save_model
    from mg.representation.grid import Grid
    from mg.tracking import runs
    from mg.tracking.publish import log_model, register

    family = registry.get("three-branch")
    config = family.make_config("tiny", Grid())
    folder = save_model(work / "model", "three-branch", family.build(config), Grid())
    uri = f"sqlite:///{work / 'mlflow.db'}"
    run = runs.start_run(runs.connect(uri), "bench-startup", "random-tiny")
    logged = log_model(run, folder, work / "scratch")
    register(run, NAME, logged, "valid/nll_frame", 1.0)
    run.end("FINISHED")
    return folder, uri


def timed(command: list[str], cwd: Path) -> tuple[float, float, float]:
    """(wall seconds, sampling seconds the command reported (0 when none), CPU seconds of the
    process) of one run. On a busy machine the CPU seconds are the steadier figure."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CI": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()}")
    found = SAMPLED.search(done.stdout)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, float(found[1]) if found else 0.0, cpu


def best(command: list[str], cwd: Path) -> tuple[float, float, float, float]:
    """Best of REPEATS by start-up: (wall, sampling, start-up = wall - sampling, CPU s)."""
    runs = [timed(command, cwd) for _ in range(REPEATS)]
    wall, sampled, cpu = min(runs, key=lambda run: run[0] - run[1])
    return wall, sampled, wall - sampled, cpu


def main() -> str:
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="mg-bench-startup-") as scratch:
        work = Path(scratch)
        folder, uri = make_model(work)
        floor = best([sys.executable, "-c", "import torch"], work)
        cases = {
            "model folder": [MG, "generate", "--model-uri", str(folder)],
            f"models:/{NAME}@champion (local SQLite)": [
                MG,
                "generate",
                "--model-uri",
                f"models:/{NAME}@champion",
                "--tracking-uri",
                uri,
            ],  # fmt: skip
        }
        rows = []
        for label, command in cases.items():
            first = timed([*command, *ARGS, "--out", str(work / "first")], work)
            wall, sampled, startup, cpu = best([*command, *ARGS, "--out", str(work / "out")], work)
            alone = min(
                timed([*command, *NOTHING, "--out", str(work / "one")], work)[2]
                for _ in range(REPEATS)
            )
            rows.append(
                f"| {label} | {first[0] - first[1]:.2f} | {wall:.2f} | {sampled:.2f} | "
                f"{startup:.2f} | {startup / floor[2]:.1f}× | {cpu:.2f} | {alone:.2f} | "
                f"{alone / floor[3]:.1f}× |"
            )
    lines = [
        "## startup: `mg generate` besides sampling",
        "",
        "Seconds of `mg generate --steps 256 --num 4` (three-branch tiny): start-up is the wall",
        "time minus the sampling time the command reports. Targets: ≤ 3 s for a model folder,",
        '≤ 5 s for a `models:/` URI on the local store. The baseline is `python -c "import torch"`',
        f"({floor[2]:.2f} s here), which every generation pays.",
        "",
        "| model URI | start-up, first run | wall | sampling | start-up | × import torch | CPU s "
        "| start-up CPU s | × import torch CPU |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        f"Best of {REPEATS} runs after the first, one torch thread; each run a fresh process; "
        f"`import torch` took {floor[3]:.2f} CPU s; load average {load_before:.1f} at the start "
        f"and {os.getloadavg()[0]:.1f} at the end on {os.cpu_count()} cores (a loaded machine "
        "stretches wall times, CPU seconds much less). Start-up CPU s: the whole process for "
        "`--steps 1 --num 1`, best of the same runs.",
    ]
    return save_section("startup", "\n".join(lines))


if __name__ == "__main__":
    print(main())
