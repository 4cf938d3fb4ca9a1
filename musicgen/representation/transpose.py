"""Transposition: one function shifts the pitch axis of rolls and note matrices alike."""

from __future__ import annotations

import numpy as np


def shift_pitches(values: np.ndarray, shift: int, out: np.ndarray | None = None) -> np.ndarray:
    """[steps, α, ...] moved `shift` pitches up (down when negative); what leaves the range is
    dropped and silence comes in. Written into `out` (of the same shape) when given."""
    alpha = values.shape[1]
    if out is None:
        out = np.zeros_like(values)
    else:  # only the pitches the silence comes into need clearing
        out[:, : max(0, min(shift, alpha))] = 0
        out[:, max(0, min(alpha + shift, alpha)) :] = 0
    if shift == 0:
        out[:] = values
    elif 0 < shift < alpha:
        out[:, shift:] = values[:, : alpha - shift]
    elif -alpha < shift < 0:
        out[:, :shift] = values[:, -shift:]
    return out


def lost_pitches(values: np.ndarray, shift: int) -> np.ndarray:
    """The part of [steps, α, ...] that `shift_pitches(values, shift)` drops."""
    alpha = values.shape[1]
    if shift >= 0:
        return values[:, max(alpha - shift, 0) :]
    return values[:, : min(-shift, alpha)]
