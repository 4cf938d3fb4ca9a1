"""Generation speed: cost linear in --steps, and the gain of sampling --num pieces as one batch.

Ours is `mg.generation.sampling.generate_notes` (one `step` per frame, recurrent state reused, the
context of each new frame from its last ε+1 frames). The baseline of the first table is the
sampler without state reuse: every step runs the model over the whole prefix again (with the
prefix's context), which is what a model without `step` would cost — O(n²). Random weights of
the three-branch `tiny` and `base` presets on the default grid (α = 88); speed does not depend
on training. Each figure is the best of a few runs (the machine is shared).

    python -m benchmarks.run generate
"""

from __future__ import annotations

import time

import numpy as np
import torch

from benchmarks.run import save_section
from mg.generation.sampling import SamplingOptions, generate_notes, one_thread_on_cpu
from mg.models import registry
from mg.models.protocol import NoteBatch
from mg.representation import context_matrix, position_index
from mg.representation.grid import Grid

GRID = Grid()
PRESETS = ("tiny", "base")
REPEATS = 2


def build(preset: str) -> torch.nn.Module:
    torch.manual_seed(0)
    family = registry.get("three-branch")
    return family.build(family.make_config(preset, GRID)).eval()


def best_seconds(run, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def ours(model, steps: int, num: int = 1) -> float:
    options = SamplingOptions(steps=steps, num=num, seed=0)
    return best_seconds(lambda: generate_notes(model, GRID, options))


@torch.no_grad()
def without_state(model, steps: int) -> None:
    """The baseline: the whole prefix through `forward` at every step (greedy, one piece)."""
    frames = np.zeros((1, GRID.alpha, 3), dtype=np.uint8)
    frames[0, 40:43] = (1, 1, 80)
    for _ in range(steps - 1):
        notes = frames.astype(np.float32)
        notes[..., 2] /= 127.0
        context = context_matrix(frames, GRID.steps_per_beat).astype(np.float32)
        position = position_index(len(frames), GRID).astype(np.int64)
        batch = NoteBatch(
            torch.from_numpy(notes)[None],
            torch.from_numpy(context)[None],
            torch.from_numpy(position)[None],
        )
        output = model(batch)
        pressed = (output.pressed_logits[0, -1] > 0).numpy()
        frame = np.zeros((1, GRID.alpha, 3), dtype=np.uint8)
        frame[0, pressed] = (1, 1, 80)
        frames = np.concatenate([frames, frame])


def baseline(model, steps: int) -> float:
    with one_thread_on_cpu(torch.device("cpu")):
        return best_seconds(lambda: without_state(model, steps), repeats=1)


def linearity_rows() -> list[str]:
    rows = []
    for preset in PRESETS:
        model = build(preset)
        short, long = ours(model, 512), ours(model, 2048)
        rows.append(
            f"| three-branch {preset}, ours (state reused) | 512 → 2,048 | {short:.2f} | "
            f"{long:.2f} | {long / short:.2f} |"
        )
    model = build("tiny")
    short, long = baseline(model, 128), baseline(model, 512)
    rows.append(
        f"| three-branch tiny, baseline (prefix re-run) | 128 → 512 | {short:.2f} | "
        f"{long:.2f} | {long / short:.2f} |"
    )
    return rows


def batching_rows(steps: int = 256) -> list[str]:
    rows = []
    for preset in PRESETS:
        model = build(preset)
        single = 1 / ours(model, steps, num=1)
        batched = 32 / ours(model, steps, num=32)
        rows.append(
            f"| three-branch {preset} | {single:.2f} | {batched:.2f} | {batched / single:.1f}× |"
        )
    return rows


def main() -> str:
    lines = [
        "## generate: incremental sampling",
        "",
        "Seconds to generate one piece; a 4× longer piece should cost about 4× (target ≤ 4.5).",
        "",
        "| model, sampler | steps | seconds (short) | seconds (4× longer) | ratio |",
        "| --- | --- | ---: | ---: | ---: |",
        *linearity_rows(),
        "",
        "Pieces per second at 256 steps: `--num 1` against `--num 32` sampled as one batch.",
        "",
        "| model | pieces/s, --num 1 | pieces/s, --num 32 | batching gain |",
        "| --- | ---: | ---: | ---: |",
        *batching_rows(),
        "",
        f"CPU, one torch thread while sampling (see musicgen/generation/sampling.py); best of {REPEATS} "
        "runs, random weights, grid α = 88.",
    ]
    return save_section("generate", "\n".join(lines))


if __name__ == "__main__":
    print(main())
