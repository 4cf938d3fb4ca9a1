"""The published metric: nats per frame, a frame's NLL being the sum over the 88 pitches of the
Bernoulli NLL of "pitch sounds", averaged over every frame of every test piece.

Only the pressed column counts; the articulation and velocity parts of the note loss are left
out. A model's figure is −log p(frame) of its output distribution (`log_prob`), exact for every
head (for `independent` it is the sum of the 88 Bernoulli NLLs). The first frame of each piece is predicted from the model's initial state (the silent
frame that conversion prepends).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from mg.evaluation.polyphonic.conversion import collate, length_batches, piece_arrays
from mg.models.protocol import NoteBatch
from mg.representation.grid import Grid


@dataclass(frozen=True)
class FrameNll:
    """Summed NLL and the frames it covers; `.mean` is the published figure."""

    total: float
    frames: int

    @property
    def mean(self) -> float:
        return self.total / max(self.frames, 1)

    def __add__(self, other: FrameNll) -> FrameNll:
        return FrameNll(self.total + other.total, self.frames + other.frames)


def roll_nll(probabilities: np.ndarray, roll: np.ndarray) -> FrameNll:
    """Reference form: predicted P(pitch sounds) [T, 88] against the roll [T, 88]."""
    p = np.clip(probabilities.astype(np.float64), 1e-12, 1 - 1e-12)
    y = roll.astype(np.float64)
    total = -(y * np.log(p) + (1 - y) * np.log1p(-p)).sum()
    return FrameNll(float(total), int(roll.shape[0]))


def logits_nll(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> FrameNll:
    """Next-frame logits [B, T, α] against target frames [B, T, α], summed where mask [B, T]."""
    per_frame = F.binary_cross_entropy_with_logits(
        logits.double(), target.double(), reduction="none"
    ).sum(-1)
    weight = mask.double()
    return FrameNll(float((per_frame * weight).sum()), int(mask.sum()))


@torch.no_grad()
def model_nll(
    model: torch.nn.Module, pieces: list[dict[str, np.ndarray]], frames_per_batch: int = 4096
) -> FrameNll:
    """The metric of a note-family model over whole pieces (from `prepare`; eval mode)."""
    was_training = model.training
    model.eval()
    total = FrameNll(0.0, 0)
    for indices in length_batches([len(p["position"]) for p in pieces], frames_per_batch, None):
        batch = collate([pieces[i] for i in indices])
        total = total + batch_nll(batch, model(batch))
    model.train(was_training)
    return total


def batch_nll(batch: NoteBatch, distribution) -> FrameNll:
    """The metric of one batch of whole pieces (from `collate`) under the model's output on it:
    every real frame after the silent first one, predicted from the frames before it."""
    log_p = distribution.time_slice(slice(None, -1)).log_prob(batch.notes[:, 1:]).double()
    mask = batch.mask[:, 1:]
    return FrameNll(float(-(log_p * mask).sum()), int(mask.sum()))


def prepare(rolls: list[np.ndarray], grid: Grid) -> list[dict[str, np.ndarray]]:
    """Convert pieces once for repeated evaluation."""
    return [piece_arrays(roll, grid) for roll in rolls]
