"""The small protocol every zoo family implements, and the batches that flow through it.

The trainer, the sampler and the evaluator know this protocol, never a model class.

Time convention: the output at step t is the prediction of frame t+1 (teacher forcing). Note
families return a `FrameDistribution` (mg.models.heads: `log_prob`, `conditionals`, `sample`)
from `forward` and `step`; `loss(batch, output)` scores batch.notes[:, 1:] with the
distributions of steps :-1 (masked by `batch.mask`). Text families return logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

VELOCITY_MAX = 127.0  # note matrices store MIDI velocity 0..127; a model sees 0..1


def model_notes(notes: np.ndarray) -> np.ndarray:
    """Stored note matrices [..., α, 3] (velocity 0..127) as float32 with velocity in 0..1."""
    values = notes.astype(np.float32)
    values[..., 2] /= VELOCITY_MAX
    return values


@dataclass
class NoteBatch:
    """Float tensors of one batch of segments (or of one step, with T = 1).

    notes [B, T, α, 3]: pressed, articulated in {0, 1}; velocity in 0..1.
    context [B, T, α, 3] in 0..1; position [B, T] long (index within the bar);
    mask [B, T] bool, False on padding (None: every step counts).
    """

    notes: torch.Tensor
    context: torch.Tensor
    position: torch.Tensor
    mask: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> NoteBatch:
        move = lambda t: None if t is None else t.to(device, non_blocking=True)  # noqa: E731
        return NoteBatch(move(self.notes), move(self.context), move(self.position), move(self.mask))


@dataclass
class NoteOutput:
    """Per-pitch conditionals of the next frame [B, T, α]: the logit of pressed_d given the
    pressed pitches below d (independent heads: given nothing), the articulated logit given
    the pressed frame, and velocity in 0..1 (see `FrameDistribution.conditionals`)."""

    pressed_logits: torch.Tensor
    articulated_logits: torch.Tensor
    velocity: torch.Tensor


@dataclass
class TextBatch:
    """Character ids [B, T] (long) for char-level families; mask [B, T] bool or None."""

    tokens: torch.Tensor
    mask: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> TextBatch:
        mask = None if self.mask is None else self.mask.to(device)
        return TextBatch(self.tokens.to(device), mask)


@runtime_checkable
class SequenceModel(Protocol):
    """What a frame-by-frame zoo family's model offers (it is also a torch.nn.Module); a latent
    family offers `forward` and `loss` and, for generation, `LatentModel` below."""

    config: Any

    def forward(self, batch: Any) -> Any:
        """Whole-sequence pass for training (note families: a `FrameDistribution`)."""

    def loss(self, batch: Any, output: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Training loss and its named parts (`nll_pressed`, `nll_articulated`, `velocity`, …)."""

    def initial_state(self, batch_size: int) -> Any:
        """Recurrent state before the first step."""

    def step(self, state: Any, frame: Any) -> tuple[Any, Any]:
        """One step of generation: (the next frame's distribution, next state); O(1) per step."""


# Optional hooks a model may have; the trainer calls them when present:
#   set_step(step: int)      told the optimiser step before each training step (schedules
#                            inside the loss, e.g. a KL warm-up);
#   logged_parts: tuple[str] names of `loss` parts logged per epoch as `train/<name>`.


@runtime_checkable
class CarriesState(Protocol):
    """A recurrent family that can continue a sequence (truncated back-propagation through
    time: the polyphonic benchmark trains long pieces in chunks with it). Optional: a family
    without it (the transformer) trains on whole sequences."""

    def forward_from(self, state: Any, batch: Any) -> tuple[Any, Any]:
        """`forward` over `batch` starting from `state` (None: the initial state), and the
        state after the batch's last step: `forward_from(None, b)[0]` is `forward(b)`, and
        two halves run one after the other, the state passed on, give the whole's output."""


@runtime_checkable
class LatentModel(Protocol):
    """A family with a latent space over whole segments (music-vae): its input kind is
    "segments" (mg.kinds), and mg.generation.latent samples, varies and interpolates with it.

    `forward` encodes and decodes a batch (teacher forcing); generation goes through z:
    `decoder_state(z)` then `decode_step` once per frame, where the frame fed is the previous
    one (silence at t = 0) with the P_t of the frame to predict, and the distribution returned
    is that frame's (not the next one's, as `step` gives)."""

    segment_steps: int  # frames a segment holds
    latent_size: int

    def encode(self, batch: NoteBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z | segment), [B, latent] each."""

    def decoder_state(self, z: torch.Tensor) -> Any:
        """The decoder's state before the first frame of the segment z stands for."""

    def decode_step(self, state: Any, frame: NoteBatch) -> tuple[Any, Any]:
        """(the distribution of this frame, next state)."""
