"""Generation speed: cost linear in --steps, and the gain of sampling --num pieces as one batch.

Ours is `mg.generation.sampling.generate_notes` (one `step` per frame, recurrent state reused, or
for the transformer its KV cache of at most 512 frames, the context of each new frame from its
last ε+1 frames). The baseline of the first table is the
sampler without state reuse: every step runs the model over the whole prefix again (with the
prefix's context), which is what a model without `step` would cost — O(n²). Random weights of
the three-branch `tiny` and `base` presets on the default grid (α = 88), with each output head
(`nade`, `independent`); the pressed logits start at log-odds −4 (about 1.6 notes a frame, as in
folk tunes: the samplers loop once per pressed pitch, so a random model's 44 notes a frame
would measure another workload). Each figure is the best of a few runs (the machine is shared).

    python -m benchmarks.run generate
"""

from __future__ import annotations

import time

import numpy as np
import torch

from benchmarks.run import save_section
from mg.generation.sampling import SamplingOptions, generate_notes, one_thread_on_cpu
from mg.models import registry
from mg.models.heads import HEADS, Controls
from mg.models.protocol import NoteBatch
from mg.representation import context_matrix, position_index
from mg.representation.grid import Grid

GRID = Grid()
PRESETS = ("tiny", "base")
REPEATS = 2


FAMILIES = ("three-branch", "transformer")
WINDOW = 512  # the transformer's cache: generation past it runs in flat time per step


def build(preset: str, head: str = "nade", family_name: str = "three-branch") -> torch.nn.Module:
    torch.manual_seed(0)
    family = registry.get(family_name)
    extra = {"window": WINDOW} if family_name == "transformer" else {}
    model = family.build(family.make_config(preset, GRID, head=head, **extra)).eval()
    model.head.set_pressed_prior(torch.full((GRID.alpha,), -4.0))
    return model


def best_seconds(run, repeats: int = REPEATS) -> float:
    """CPU seconds of this process (sampling runs on one thread): on a machine shared by many
    jobs, wall time measures the neighbours, CPU time the work."""
    times = []
    for _ in range(repeats):
        started = time.process_time()
        run()
        times.append(time.process_time() - started)
    return min(times)


def ours(model, steps: int, num: int = 1, repeats: int = REPEATS) -> float:
    # top-p 1: the model's own distribution, one draw per frame (the rows below were measured
    # so; the default top-p 0.9 draws 32 frames per frame with nade: RESULTS.md has its cost)
    options = SamplingOptions(steps=steps, num=num, seed=0, top_p=1.0)
    return best_seconds(lambda: generate_notes(model, GRID, options), repeats)


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
        last = model(batch).time_slice(slice(-1, None))
        drawn = last.sample(torch.Generator().manual_seed(0), Controls(greedy=True))
        pressed = drawn.pressed[0].numpy()
        frame = np.zeros((1, GRID.alpha, 3), dtype=np.uint8)
        frame[0, pressed] = (1, 1, 80)
        frames = np.concatenate([frames, frame])


def baseline(model, steps: int) -> float:
    with one_thread_on_cpu(torch.device("cpu")):
        return best_seconds(lambda: without_state(model, steps), repeats=1)


def linearity_rows(
    presets=PRESETS, baseline_rows: bool = True, repeats: int = REPEATS, families=FAMILIES
):
    rows = []
    for name in families:
        for preset in presets:
            for head in HEADS:
                model = build(preset, head, name)
                short, long = ours(model, 512, 1, repeats), ours(model, 2048, 1, repeats)
                rows.append(
                    f"| {name} {preset} {head}, ours ({_reuse(name)}) | 512 → 2,048 | "
                    f"{short:.2f} | {long:.2f} | {long / short:.2f} |"
                )
    if not baseline_rows:
        return rows
    model = build("tiny", "independent")
    short, long = baseline(model, 128), baseline(model, 512)
    rows.append(
        f"| three-branch tiny, baseline (prefix re-run) | 128 → 512 | {short:.2f} | "
        f"{long:.2f} | {long / short:.2f} |"
    )
    return rows


def _reuse(family_name: str) -> str:
    return f"KV cache, window {WINDOW}" if family_name == "transformer" else "state reused"


def batching_rows(
    steps: int = 256, presets=PRESETS, repeats: int = REPEATS, families=FAMILIES
) -> list[str]:
    rows = []
    for name in families:
        for preset in presets:
            for head in HEADS:
                model = build(preset, head, name)
                single = 1 / ours(model, steps, 1, repeats)
                batched = 32 / ours(model, steps, 32, repeats)
                rows.append(
                    f"| {name} {preset} {head} | {single:.2f} | {batched:.2f} | "
                    f"{batched / single:.1f}× |"
                )
    return rows


def main(
    presets=PRESETS, baseline_rows: bool = True, repeats: int = REPEATS, families=FAMILIES
) -> str:
    """`make bench` measures everything; a busy machine can ask for less (and says so)."""
    lines = [
        "## generate: incremental sampling",
        "",
        "CPU seconds to generate one piece; a 4× longer piece should cost about 4× (target ≤ 4.5).",
        "",
        "| model, sampler | steps | seconds (short) | seconds (4× longer) | ratio |",
        "| --- | --- | ---: | ---: | ---: |",
        *linearity_rows(presets, baseline_rows, repeats, families),
        "",
        "Pieces per CPU second at 256 steps: `--num 1` against `--num 32` sampled as one batch.",
        "",
        "| model | pieces/s, --num 1 | pieces/s, --num 32 | batching gain |",
        "| --- | ---: | ---: | ---: |",
        *batching_rows(256, presets, repeats, families),
        "",
        f"CPU, one torch thread while sampling (see musicgen/generation/sampling.py); best of {repeats} "
        "run(s), random weights (pressed log-odds −4), grid α = 88; the transformer keeps a cache of "
        f"{WINDOW} frames.",
    ]
    return save_section("generate", "\n".join(lines))


if __name__ == "__main__":
    print(main())
