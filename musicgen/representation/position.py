"""The position matrix P_t: where step t falls in its real bar, as a multi-hot of three parts.

P_t has `position_width(ε)` rows, each repeated in 3 columns (the patent's layout), and exactly
three ones, one in each block:

    rows [0, 3ε)                      step within the beat (a beat is at most a dotted half)
    rows [3ε, 3ε + 12)                beat within the bar (compound meters beat in dotted notes)
    rows [3ε + 12, 3ε + 12 + 16)      the meter: one of METERS, "other" for the rest

It is stored as the three row indices of those ones, int16 [steps, 3] (`position_codes`), and
expanded losslessly by `position_matrix` here or `mg.models.layers.position_one_hot` in torch.
A step within the beat or a beat within the bar past its block's end (beats longer than a
dotted half, bars of more than 12 beats) is clipped to the block's last row.
"""

from __future__ import annotations

import numpy as np

from mg.representation.grid import Grid

BEAT_ROWS = 12
METERS = (
    "other", "4/4", "3/4", "2/4", "6/8", "9/8", "12/8", "2/2",
    "3/8", "6/4", "3/2", "5/4", "7/8", "5/8", "7/4", "4/2",
)  # fmt: skip


def step_rows(steps_per_quarter: int) -> int:
    return 3 * steps_per_quarter


def position_width(steps_per_quarter: int) -> int:
    """Rows of P_t on a grid of ε steps per quarter: 3ε + 12 + 16 (40 at ε = 4)."""
    return step_rows(steps_per_quarter) + BEAT_ROWS + len(METERS)


def meter_row(signature: object) -> int:
    text = str(signature)
    return METERS.index(text) if text in METERS else 0


def position_codes(meter, grid: Grid, steps: int, start: int = 0) -> np.ndarray:
    """The stored P_t of steps start … start+steps-1 of a piece in `meter`: int16 [steps, 3].

    The one function for ingest and generation. A step before 0 counts back in the first
    signature's bars.
    """
    from mg.representation.meter import grid_meter

    meter = grid_meter(meter, grid)
    eps = grid.steps_per_beat
    t = np.arange(start, start + steps, dtype=np.int64)
    change_steps = np.array([s for s, _ in meter.changes], dtype=np.int64)
    which = np.maximum(np.searchsorted(change_steps, t, side="right") - 1, 0)
    signatures = meter.signatures()
    bar = np.array([sig.bar_steps(eps) for sig in signatures], dtype=np.int64)[which]
    beat = np.array([sig.beat_steps(eps) for sig in signatures], dtype=np.int64)[which]
    rows = np.array([meter_row(sig) for sig in signatures], dtype=np.int64)[which]
    within = (t - change_steps[which]) % bar
    codes = np.empty((steps, 3), dtype=np.int16)
    codes[:, 0] = np.minimum(within % beat, step_rows(eps) - 1)
    codes[:, 1] = step_rows(eps) + np.minimum(within // beat, BEAT_ROWS - 1)
    codes[:, 2] = step_rows(eps) + BEAT_ROWS + rows
    return codes


def position_index(steps: int, grid: Grid, first_step: int = 0) -> np.ndarray:
    """P_t codes of a piece without a known meter (ζ/4 bars from step 0): int16 [steps, 3]."""
    return position_codes(None, grid, steps, first_step)


def position_matrix(codes: np.ndarray, width: int) -> np.ndarray:
    """Expand codes [..., 3] to the patent's matrix [..., width, 3] (uint8), losslessly."""
    hot = (np.asarray(codes)[..., None] == np.arange(width)).any(axis=-2).astype(np.uint8)
    return np.repeat(hot[..., None], 3, axis=-1)
