"""Piano rolls → the note family's input (notes, context, position), one piece at a time.

pressed = the roll; articulated = onset (pressed now, not pressed at the previous step);
velocity = one constant; position = step index within a bar of `grid`; context = the shared
causal context function. One silent frame is prepended, so the model's output at that frame
(computed from the initial state) is its prediction of the piece's first frame.
"""

from __future__ import annotations

import numpy as np
import torch

from mg.models.protocol import NoteBatch, model_notes
from mg.representation import context_matrix, position_index
from mg.representation.grid import Grid

VELOCITY = 100  # stored 0..127; the benchmark has no dynamics


def roll_to_notes(roll: np.ndarray, velocity: int = VELOCITY) -> np.ndarray:
    """roll [T, α] {0,1} -> notes [T+1, α, 3] uint8 with the silent frame first."""
    pressed = np.concatenate([np.zeros((1, roll.shape[1]), np.uint8), roll.astype(np.uint8)])
    previous = np.concatenate([np.zeros((1, roll.shape[1]), np.uint8), pressed[:-1]])
    articulated = pressed & (1 - previous)
    return np.stack([pressed, articulated, pressed * np.uint8(velocity)], axis=-1)


def allowed_shifts(roll: np.ndarray, limit: int) -> np.ndarray:
    """Shifts in −limit..+limit that keep every note of the piece inside the pitch range."""
    used = np.flatnonzero(roll.any(axis=0))
    if used.size == 0:
        return np.zeros(1, np.int64)
    low, high = -min(limit, int(used[0])), min(limit, roll.shape[1] - 1 - int(used[-1]))
    return np.arange(low, high + 1)


def piece_arrays(roll: np.ndarray, grid: Grid) -> dict[str, np.ndarray]:
    """One piece as float arrays: notes/context [T+1, α, 3], position [T+1, 3] (P_t's codes in
    ζ/4 bars, the first real step on a downbeat: the rolls carry no meter)."""
    notes = roll_to_notes(roll)
    context = context_matrix(notes, grid.steps_per_beat).astype(np.float32)
    position = position_index(len(notes), grid, first_step=-1).astype(np.int64)
    floats = model_notes(notes)
    return {"notes": floats, "context": context, "position": position}


def collate(pieces: list[dict[str, np.ndarray]]) -> NoteBatch:
    """Pad pieces to the longest; mask marks the real steps (silent frame included)."""
    longest = max(len(p["position"]) for p in pieces)
    batch, alpha = len(pieces), pieces[0]["notes"].shape[1]
    notes = np.zeros((batch, longest, alpha, 3), np.float32)
    context = np.zeros_like(notes)
    position = np.zeros((batch, longest, *pieces[0]["position"].shape[1:]), np.int64)
    mask = np.zeros((batch, longest), bool)
    for i, piece in enumerate(pieces):
        steps = len(piece["position"])
        notes[i, :steps], context[i, :steps] = piece["notes"], piece["context"]
        position[i, :steps], mask[i, :steps] = piece["position"], True
    tensors = (torch.from_numpy(a) for a in (notes, context, position, mask))
    return NoteBatch(*tensors)


def length_batches(
    lengths: list[int],
    frames_per_batch: int,
    rng: np.random.Generator | None,
    chunk: int = 0,
):
    """Indices grouped by similar length (little padding), ~frames_per_batch real frames each
    (with `chunk`, a piece counts at most `chunk` frames: the frames of one chunk step).

    With `rng` the order within equal lengths and the order of batches are shuffled.
    """
    keys = np.asarray(lengths) + (rng.random(len(lengths)) if rng is not None else 0.0)
    order = np.argsort(keys, kind="stable")
    batches, current, frames = [], [], 0
    for index in order:
        current.append(int(index))
        frames += min(lengths[index], chunk) if chunk else lengths[index]
        if frames >= frames_per_batch:
            batches.append(current)
            current, frames = [], 0
    if current:
        batches.append(current)
    if rng is not None:
        rng.shuffle(batches)
    return batches
