"""Long pieces in chunks (issue 17, part 5): the benchmark's trainer on whole pieces against
truncated back-propagation in 128-frame chunks with the state carried, on JSB and on a
long-piece set made of JSB (every 8 consecutive pieces of a split joined into one, about 480
frames, MuseData/Piano-midi-like lengths).

Both sides run the benchmark's own path (`run.piece_loaders`, `build_session`, the trainer's
`train_epoch` and validation on whole pieces) on its default model (three-branch LSTM 1×256,
nade head) and batch size (`--frames-per-batch 256`), side by side in two processes of one
torch thread each, so the machine's load hits both alike, each for the same CPU budget.
Reported: training frames per CPU-second (real frames of the epoch over the CPU time of its
training pass) and the best validation NLL reached by each CPU minute (training and
validation CPU together), with ratios chunked / whole.

    nice -n 5 env OMP_NUM_THREADS=1 python -m benchmarks.run chunks
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.run import save_section, shared_data

CHUNK = 128
JOIN = 8  # JSB pieces per long piece
SCALE = float(os.environ.get("MG_BENCH_CHUNK_SCALE", 1.0))
CPU_BUDGET = {"jsb": 120.0 * SCALE, "long": 240.0 * SCALE}  # CPU seconds per run
FRAMES_PER_BATCH = 256  # the command's default
MINUTES = (1, 2, 3, 4)


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def splits_of(dataset: str):
    from mg.evaluation.polyphonic.loaders import Splits, load, subset

    splits = load(shared_data("polyphonic") / "JSB_Chorales.mat")
    if os.environ.get("MG_BENCH_CHUNK_PIECES"):  # smoke runs
        splits = subset(splits, int(os.environ["MG_BENCH_CHUNK_PIECES"]))
    if dataset == "jsb":
        return splits
    joined = {
        name: [np.concatenate(rolls[i : i + JOIN]) for i in range(0, len(rolls), JOIN)]
        for name, rolls in (("train", splits.train), ("valid", splits.valid), ("test", splits.test))
    }
    return Splits(**joined, source=f"{splits.source} ({JOIN} pieces joined)")


def worker(dataset: str, chunk: int, budget: float) -> dict:
    """One side: epochs until `budget` CPU seconds are spent; the curve and the pace."""
    import torch

    from mg.evaluation.polyphonic.chunks import StateCarrier
    from mg.evaluation.polyphonic.pieces import PIECES
    from mg.evaluation.polyphonic.run import (
        ModelSpec,
        Settings,
        note_config,
        piece_loaders,
        set_pressed_prior,
    )
    from mg.representation.grid import Grid
    from mg.training.build import build_model, build_session
    from mg.training.distributed import Placement
    from mg.training.loop import Budget, Quiet, train_epoch, validate

    torch.set_num_threads(1)
    splits = splits_of(dataset)
    settings = Settings(
        Grid(steps_per_beat=1, beats_per_bar=4), frames_per_batch=FRAMES_PER_BATCH, chunk=chunk
    )
    spec = ModelSpec("three-branch", "lstm", "base", {"hidden": 256, "layers": 1, "head": "nade"})
    config = note_config(spec, settings)
    model = build_model(config)
    set_pressed_prior(model, splits.train)
    loaders = piece_loaders(splits, settings, Placement())
    carrier = StateCarrier(model) if chunk else None
    frames = sum(len(roll) for roll in splits.train)
    with tempfile.TemporaryDirectory() as work:
        session = build_session(config, PIECES, model, loaders, Placement(), Path(work), carrier)
        session.budget = Budget(0.0, valid_batches=session.valid.batches)
        start_cpu, start_wall = cpu_seconds(), time.perf_counter()
        curve, train_cpu, trained = [], 0.0, 0
        while cpu_seconds() - start_cpu < budget:
            before = cpu_seconds()
            train_epoch(session, len(curve) + 1, Quiet())
            train_cpu += cpu_seconds() - before
            trained += frames
            valid = validate(session)["valid/nll_frame"]
            curve.append((cpu_seconds() - start_cpu, valid))
        wall = time.perf_counter() - start_wall
    return {
        "dataset": dataset,
        "chunk": chunk,
        "pieces": len(splits.train),
        "mean_frames": frames / len(splits.train),
        "steps_per_epoch": session.state.step / len(curve),
        "frames_per_cpu_s": trained / train_cpu,
        "curve": curve,
        "cpu_s": curve[-1][0],
        "wall_s": wall,
    }


def best_by(curve: list[list[float]], seconds: float, budget: float) -> float:
    """The best validation NLL within `seconds` of CPU (NaN past the run's budget)."""
    if seconds > budget:
        return math.nan
    values = [valid for cpu, valid in curve if cpu <= seconds]
    return min(values) if values else math.nan


def figure(value: float, form: str) -> str:
    return "—" if math.isnan(value) else form.format(value)


def run_all() -> dict[str, list[dict]]:
    """Whole pieces and chunks, both datasets, all at the same time, one process each."""
    command = [sys.executable, "-m", "benchmarks.bench_chunks"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    processes = {
        (dataset, chunk): subprocess.Popen(
            [*command, dataset, str(chunk), str(budget)], stdout=subprocess.PIPE, env=env
        )
        for dataset, budget in CPU_BUDGET.items()
        for chunk in (0, CHUNK)
    }
    results: dict[str, list[dict]] = {}
    for (dataset, chunk), process in processes.items():
        out, _ = process.communicate()
        if process.returncode:
            raise RuntimeError(f"bench_chunks {dataset} --chunk {chunk} failed")
        results.setdefault(dataset, []).append(json.loads(out.decode().strip().splitlines()[-1]))
    return results


def main() -> str:
    shared_data("polyphonic")
    load_before = os.getloadavg()
    pairs = run_all()
    load_after = os.getloadavg()
    names = {"jsb": "JSB", "long": f"JSB, {JOIN} pieces joined"}
    head = " | ".join(f"valid @ {m} CPU-min" for m in MINUTES)
    lines = [
        "## Long pieces in chunks (truncated back-propagation, issue 17 part 5)\n",
        "three-branch LSTM 1×256 (nade), `--frames-per-batch 256`, the benchmark's trainer; whole "
        f"pieces against `--chunk {CHUNK}` (the state carried across a piece's chunks, reset "
        "between pieces), side by side, one torch thread each, "
        f"{CPU_BUDGET['jsb'] / 60:.0f} CPU minutes each on JSB, {CPU_BUDGET['long'] / 60:.0f} on "
        "the long pieces, all four runs at once; validation on whole pieces (the published "
        "metric). Valid NLL: the best reached by that much CPU (training and validation).\n",
        f"| data | training | pieces × mean frames | steps / epoch | frames / CPU-s | epochs | {head} | CPU share |",
        "| --- | --- | ---: | ---: | ---: | ---: | "
        + " | ".join("---:" for _ in MINUTES)
        + " | ---: |",
    ]
    for dataset, (whole, chunked) in pairs.items():
        for row in (whole, chunked):
            label = f"chunks of {row['chunk']}" if row["chunk"] else "whole pieces"
            values = " | ".join(
                figure(best_by(row["curve"], 60 * m, CPU_BUDGET[dataset]), "{:.3f}")
                for m in MINUTES
            )
            lines.append(
                f"| {names[dataset]} | {label} | {row['pieces']} × {row['mean_frames']:.0f} | "
                f"{row['steps_per_epoch']:.0f} | {row['frames_per_cpu_s']:,.0f} | "
                f"{len(row['curve'])} | {values} | {row['cpu_s'] / row['wall_s']:.2f} |"
            )
        ratios = " | ".join(
            figure(
                best_by(chunked["curve"], 60 * m, CPU_BUDGET[dataset])
                - best_by(whole["curve"], 60 * m, CPU_BUDGET[dataset]),
                "{:+.3f}",
            )
            for m in MINUTES
        )
        lines.append(
            f"| {names[dataset]} | **chunks / whole** | | | "
            f"**{chunked['frames_per_cpu_s'] / whole['frames_per_cpu_s']:.2f}×** | | {ratios} | |"
        )
    lines += [
        "",
        "The ratio row gives frames/CPU-s chunked over whole, and the valid NLL difference "
        "chunked − whole at each CPU minute (negative: chunks are ahead). CPU share: CPU "
        "seconds over wall seconds of each process (1.00: a whole core).",
        f"Machine load (1/5/15-min averages, 2 cores): {load_before[0]:.1f}/{load_before[1]:.1f}/"
        f"{load_before[2]:.1f} before, {load_after[0]:.1f}/{load_after[1]:.1f}/"
        f"{load_after[2]:.1f} after.",
    ]
    return save_section("chunks", "\n".join(lines))


if __name__ == "__main__":
    dataset, chunk, budget = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    print(json.dumps(worker(dataset, chunk, budget)))
