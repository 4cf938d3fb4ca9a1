"""The one object between a note model and everything else: a distribution over the next frame.

Per step t a note model returns p(N_{t+1} | past) as a `FrameDistribution` over all B × T
steps of the batch. Training scores it (`conditionals` → `mg.models.layers.note_loss`), the
polyphonic benchmark and `mg evaluate` read `log_prob`, and the sampler calls `sample` on the
last step; no caller looks inside a head.

A frame is [.., α, 3] (pressed, articulated, velocity in 0..1). Its probability is
p(pressed) · p(articulated | pressed); velocity is a regression given pressed, never sampled.
`conditionals(frame)` gives, for every pitch d, the logit of p(pressed_d | pressed_<d, past)
(independent heads ignore pressed_<d), and the articulated logit and velocity given the whole
pressed frame: with these, log p and the loss are one formula for every head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch.nn import functional as F

from mg.models.protocol import NoteOutput


@dataclass(frozen=True, eq=False)
class Controls:
    """What the sampler may ask of `sample`.

    temperature: divides the logits that choose pitches (see each head for what it tempers);
    top_p: per head, the share of probability mass kept (see each head);
    allowed: [α] bool, pitches that may sound (key, pitch range); None: all;
    max_polyphony: at most this many pitches pressed in a frame; None: no cap.
    """

    temperature: float = 1.0
    top_p: float = 1.0
    allowed: torch.Tensor | None = None
    max_polyphony: int | None = None

    def allowed_on(self, alpha: int, device: torch.device) -> torch.Tensor:
        if self.allowed is None:
            return torch.ones(alpha, dtype=torch.bool, device=device)
        return self.allowed.to(device=device, dtype=torch.bool)

    def cap(self, alpha: int) -> int:
        return alpha if self.max_polyphony is None else min(alpha, self.max_polyphony)


@dataclass
class NoteSample:
    """One sampled frame per batch row: pressed, articulated [B, α] bool, velocity [B, α] in
    0..1, and log q(pressed) [B] under the distribution actually sampled (with controls)."""

    pressed: torch.Tensor
    articulated: torch.Tensor
    velocity: torch.Tensor
    log_prob: torch.Tensor


class FrameDistribution(Protocol):
    """p(next frame | past) for every step of a batch; see the module docstring."""

    def conditionals(self, frame: torch.Tensor) -> NoteOutput:
        """Per-pitch conditional logits given `frame` [B, T, α, 3] (teacher forcing)."""

    def log_prob(self, frame: torch.Tensor) -> torch.Tensor:
        """log p(pressed roll of `frame`) [B, T], exact (nats; the benchmark's −NLL)."""

    def time_slice(self, steps: slice | torch.Tensor) -> FrameDistribution:
        """The distributions of some steps (e.g. `slice(None, -1)`: all but the last; or a
        1-D tensor of step indices, which may repeat a step)."""

    def sample(self, generator: torch.Generator, controls: Controls) -> NoteSample:
        """Draw the frame after the last step of every row, obeying `controls`."""


def pressed_log_prob(conditionals: NoteOutput, frame: torch.Tensor) -> torch.Tensor:
    """Σ_d log p(pressed_d | …) [B, T] from the conditional logits, summed in float64."""
    logits = conditionals.pressed_logits.double()
    nll = F.binary_cross_entropy_with_logits(logits, frame[..., 0].double(), reduction="none")
    return -nll.sum(-1)


def uniforms(generator: torch.Generator, rows: int, alpha: int, device: torch.device):
    """The random numbers of one frame, drawn on the CPU generator: [rows, α] pressed and
    [rows, α] articulated uniforms, so a seed gives the same bytes on any device."""
    draws = torch.rand(2, rows, alpha, generator=generator, dtype=torch.float64)
    return draws[0].to(device), draws[1].to(device)


def draw_articulation(
    conditionals: NoteOutput, pressed: torch.Tensor, u: torch.Tensor, controls: Controls
) -> tuple[torch.Tensor, torch.Tensor]:
    """Articulated (given pressed; tempered and top-p'd like one binary choice of a pitch) and
    velocity of the last step."""
    logits = conditionals.articulated_logits[:, -1].double() / controls.temperature
    articulated = (u < bernoulli_top_p(torch.sigmoid(logits), controls.top_p)) & pressed
    return articulated, conditionals.velocity[:, -1].float()


def bernoulli_top_p(p: torch.Tensor, top_p: float) -> torch.Tensor:
    """Nucleus sampling of one binary choice: the likelier value alone when it holds at least
    `top_p` of the mass, else both (p unchanged)."""
    if top_p >= 1.0:
        return p
    sure = torch.maximum(p, 1 - p) >= top_p
    return torch.where(sure, (p >= 0.5).to(p.dtype), p)
