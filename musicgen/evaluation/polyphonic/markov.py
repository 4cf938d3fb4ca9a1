"""The trivial floor: each pitch on its own, a two-state Markov chain (sounds / silent).

P(pitch sounds at t | it sounded at t-1) per pitch, counted on the training split with add-one
smoothing; before the first frame every pitch is silent (the prepended silent frame), so the
first frame is predicted by P(sounds | silent). 176 numbers; a model that cannot beat this has
learnt nothing about harmony or voice leading.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mg.evaluation.polyphonic.nll import FrameNll, roll_nll


@dataclass(frozen=True)
class PitchMarkov:
    """on_after_off[p], on_after_on[p]: P(pitch p sounds | previous state)."""

    on_after_off: np.ndarray
    on_after_on: np.ndarray

    @property
    def parameters(self) -> int:
        return self.on_after_off.size + self.on_after_on.size

    def probabilities(self, roll: np.ndarray) -> np.ndarray:
        """P(sounds) for every frame of `roll` [T, α], each from the frame before it."""
        previous = _previous(roll)
        return np.where(previous == 1, self.on_after_on, self.on_after_off)

    def nll(self, rolls: list[np.ndarray]) -> FrameNll:
        total = FrameNll(0.0, 0)
        for roll in rolls:
            total = total + roll_nll(self.probabilities(roll), roll)
        return total


def fit_markov(rolls: list[np.ndarray], smoothing: float = 1.0) -> PitchMarkov:
    """Count transitions over every training piece (silence before each piece)."""
    alpha = rolls[0].shape[1]
    counts = np.zeros((2, 2, alpha))  # [previous, current, pitch]
    for roll in rolls:
        previous, current = _previous(roll), roll.astype(np.int64)
        for before in (0, 1):
            for now in (0, 1):
                counts[before, now] += ((previous == before) & (current == now)).sum(axis=0)
    on = (counts[:, 1] + smoothing) / (counts.sum(axis=1) + 2 * smoothing)
    return PitchMarkov(on_after_off=on[0], on_after_on=on[1])


def _previous(roll: np.ndarray) -> np.ndarray:
    return np.concatenate([np.zeros((1, roll.shape[1]), np.int64), roll[:-1].astype(np.int64)])
