"""Incremental generation for note families: one `step` per frame, so n steps cost O(n).

Each step the model returns the distribution of the next frame (mg.models.heads) and the frame
is drawn from it with `sample(generator, controls)`: the temperature, top-p, key, pitch-range
and polyphony controls are the head's to obey exactly (mg.generation.controls builds them).

The context of each new frame comes from `representation.context_of_windows` over the frames
generated so far — the very function ingest used — so the model sees at generation time what it
saw in training.

On the CPU, sampling runs torch on one intra-op thread (restored afterwards): one step is a
handful of small matrix products, where thread hand-offs cost more than they save — on a busy
2-core machine two threads made it 10-20 times slower — and one thread also keeps the sampled
bytes independent of the machine's core count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import torch

from mg.generation import DEFAULT_TOP_P
from mg.generation.controls import make_controls
from mg.models.heads import Controls, FrameDistribution
from mg.models.protocol import VELOCITY_MAX, NoteBatch, model_notes
from mg.representation.context import context_of_windows
from mg.representation.grid import Grid
from mg.representation.meter import Meter, TimeSignature, grid_meter
from mg.representation.position import position_codes


@dataclass(frozen=True)
class SamplingOptions:
    steps: int = 256
    num: int = 1
    seed: int = 0
    temperature: float = 1.0
    top_p: float = DEFAULT_TOP_P  # the share of probability mass kept (what it cuts: the head)
    key: str | None = None  # "D:minor": only the scale's pitches sound
    pitch_range: str | None = None  # "55:84": only MIDI pitches in LOW..HIGH sound
    max_polyphony: int | None = None  # at most this many pitches at once
    meter: str | None = None  # "6/8": the time signature of the pieces (else the grid's common one)


@torch.no_grad()
def generate_notes(
    model: torch.nn.Module,
    grid: Grid,
    options: SamplingOptions,
    primer: np.ndarray | None = None,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Sample `options.num` pieces at once -> uint8 [num, frames, α, 3].

    Without a primer the model starts from silence, a silent frame on the last step of a bar
    before the piece, and the output is the `steps` frames it samples after it (the first on
    a downbeat); with a primer [P, α, 3] the model first reads the primer, and the output is
    the primer followed by `steps` new frames. `progress(n)` is told of every n model steps
    done (the primer's included), for a progress bar.

    Silence rather than a random chord (the patent's random note matrix): a chord of three
    random pitches puts three random pitch classes into the key memory and a wide span into
    the piece before the model has chosen anything (measured in benchmarks/RESULTS-music.md);
    every training piece starts from silence, so the first notes are the model's own.
    """
    if (
        options.steps < 1
        or options.num < 1
        or options.temperature <= 0
        or not 0 < options.top_p <= 1
    ):
        raise ValueError(f"invalid sampling options: {options}")
    controls = make_controls(
        grid, options.temperature, options.top_p, options.key, options.pitch_range,
        options.max_polyphony,
    )  # fmt: skip
    generator = torch.Generator().manual_seed(options.seed)
    device = next(model.parameters()).device
    if primer is None:
        start, first_step = np.zeros((options.num, 1, grid.alpha, 3), dtype=np.uint8), -1
    else:
        start, first_step = _tile(primer, options.num), 0
    frames = list(np.moveaxis(start, 1, 0))  # list of [num, α, 3]
    positions = piece_positions(grid, options.meter, len(frames) + options.steps, first_step)
    with one_thread_on_cpu(device):
        state = model.initial_state(options.num)
        for t in range(len(frames) - 1 + options.steps):
            batch = _frame_batch(frames, t, grid, positions[t]).to(device)
            distribution, state = model.step(state, batch)
            if t + 1 >= len(frames):
                frames.append(_sample_frame(distribution, frames[-1], controls, generator))
            if progress is not None:
                progress(1)
    pieces = np.stack(frames, axis=1)
    return pieces if primer is not None else pieces[:, 1:]


@contextmanager
def one_thread_on_cpu(device: torch.device) -> Iterator[None]:
    """One torch intra-op thread while sampling on the CPU (see the module docstring)."""
    before = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _tile(primer: np.ndarray, num: int) -> np.ndarray:
    return np.repeat(primer[None].astype(np.uint8), num, axis=0)


def with_meter(grid: Grid, meter: str | None) -> Grid:
    """The model's grid with `meter` ("6/8") as the pieces' meter: sampling and the MIDI
    writer both read it from there. ValueError for a meter that is not n/d."""
    return replace(grid, common_meter=str(TimeSignature.parse(meter))) if meter else grid


def piece_meter(grid: Grid, meter: str | None = None) -> Meter:
    """The meter generated pieces are in: `meter` ("6/8"), else the training data's most common."""
    return grid_meter(Meter.constant(meter or grid.common_meter), grid)


def piece_positions(grid: Grid, meter: str | None, steps: int, start: int = 0) -> np.ndarray:
    """P_t of steps start … start+steps-1, int16 [steps, 3], by the function ingest used
    (`position_codes`; a step before 0 counts back in the first bar's meter)."""
    return position_codes(piece_meter(grid, meter), grid, steps, start)


def _frame_batch(frames: list[np.ndarray], t: int, grid: Grid, position: np.ndarray) -> NoteBatch:
    """Frame t with its causal context (frames t-ε..t, silence before the start) and position."""
    eps = grid.steps_per_beat
    window = [frames[i] if i >= 0 else np.zeros_like(frames[0]) for i in range(t - eps, t + 1)]
    context = context_of_windows(np.stack(window, axis=1))  # [num, α, 3]
    notes = model_notes(frames[t])
    num = len(notes)
    return NoteBatch(
        notes=torch.from_numpy(notes)[:, None],
        context=torch.from_numpy(context.astype(np.float32))[:, None],
        position=torch.from_numpy(np.tile(position.astype(np.int64), (num, 1, 1))),
    )


def _sample_frame(
    distribution: FrameDistribution,
    previous: np.ndarray,
    controls: Controls,
    generator: torch.Generator,
) -> np.ndarray:
    """Draw the next frame from the model's distribution; a pitch that starts sounding, or is
    re-struck, is an onset; a held pitch keeps its velocity."""
    drawn = distribution.sample(generator, controls)
    pressed = drawn.pressed.cpu().numpy()
    was_pressed = previous[..., 0] > 0
    onset = pressed & (drawn.articulated.cpu().numpy() | ~was_pressed)
    velocity = np.clip(np.rint(drawn.velocity.cpu().numpy() * VELOCITY_MAX), 1, 127)
    held_velocity = np.where(onset, velocity, previous[..., 2])
    frame = np.zeros_like(previous)
    frame[..., 0] = pressed
    frame[..., 1] = onset
    frame[..., 2] = np.where(pressed, held_velocity, 0)
    return frame
