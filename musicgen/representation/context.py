"""The causal context matrix C_t: a fixed convolution over N_{t-ε} … N_t.

The kernel is 3 pitches × 3 columns × (ε+1) steps, applied to each column on its own: weights
1-2-1 across the neighbouring pitches times 1, 2, …, ε+1 from the oldest to the newest step.
The weights are integers and the inputs are integers (0/1 and velocities 0..127), so every sum
is exact in float32 whatever the order of summation; one division then normalises each column
to 0..1. That is what lets ingest (whole pieces) and generation (one window per step) share
this one function and agree to the last bit.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from mg.representation.grid import Grid

PITCH_WEIGHTS = np.array([1, 2, 1], dtype=np.float32)
CONTEXT_DTYPE = np.float16


def context_kernel(steps_per_beat: int) -> np.ndarray:
    """Integer kernel [3 pitch offsets (-1, 0, +1), 3 columns, ε+1 steps oldest→newest]."""
    time_weights = np.arange(1, steps_per_beat + 2, dtype=np.float32)
    per_column = PITCH_WEIGHTS[:, None] * time_weights[None, :]
    return np.repeat(per_column[:, None, :], 3, axis=1)


def context_normaliser(steps_per_beat: int) -> np.ndarray:
    """Per-column divisor: kernel sum, times 127 for the velocity column."""
    total = context_kernel(steps_per_beat)[:, 0, :].sum()
    return np.array([total, total, total * 127.0], dtype=np.float32)


def kernel_spec(grid: Grid) -> dict:
    """The kernel as recorded in the manifest and in a model's config."""
    return {
        "window": f"N[t-{grid.steps_per_beat}]..N[t] (causal)",
        "pitch_offsets": [-1, 0, 1],
        "weights": context_kernel(grid.steps_per_beat)[:, 0, :].astype(int).tolist(),
        "normaliser": context_normaliser(grid.steps_per_beat).tolist(),
        "dtype": np.dtype(CONTEXT_DTYPE).name,
    }


def context_of_windows(windows: np.ndarray) -> np.ndarray:
    """windows [..., ε+1, α, 3] (oldest→newest) -> context [..., α, 3] float16.

    This is the shared function: generation calls it on its last ε+1 frames.
    """
    steps_per_beat = windows.shape[-3] - 1
    kernel = context_kernel(steps_per_beat)
    values = windows.astype(np.float32)
    padded = np.pad(values, [(0, 0)] * (values.ndim - 2) + [(1, 1), (0, 0)])
    alpha = values.shape[-2]
    total = np.zeros(values.shape[:-3] + values.shape[-2:], dtype=np.float32)
    for offset in range(3):  # pitch p sees p-1, p, p+1
        total += np.einsum(
            "...kpc,ck->...pc", padded[..., offset : offset + alpha, :], kernel[offset]
        )
    return (total / context_normaliser(steps_per_beat)).astype(CONTEXT_DTYPE)


def context_matrix(notes: np.ndarray, steps_per_beat: int) -> np.ndarray:
    """notes [steps, α, 3] -> context [steps, α, 3]; steps before the start count as silence."""
    history = np.concatenate([np.zeros((steps_per_beat,) + notes.shape[1:], notes.dtype), notes])
    windows = sliding_window_view(history, steps_per_beat + 1, axis=0)  # [steps, α, 3, ε+1]
    return context_of_windows(np.moveaxis(windows, -1, -3))
