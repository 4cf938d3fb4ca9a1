"""The position matrix P_t: the one-hot index of step t within its bar, in each of 3 columns."""

from __future__ import annotations

import numpy as np

from mg.representation.grid import Grid


def position_index(steps: int, grid: Grid, first_step: int = 0) -> np.ndarray:
    """Index of each step within its bar, int8 [steps] (stored form)."""
    return ((np.arange(steps) + first_step) % grid.gamma).astype(np.int8)


def position_matrix(index: np.ndarray, gamma: int) -> np.ndarray:
    """Expand indices [...] to the patent's matrix [..., γ, 3] (uint8), losslessly."""
    one_hot = (np.asarray(index)[..., None] == np.arange(gamma)).astype(np.uint8)
    return np.repeat(one_hot[..., None], 3, axis=-1)
