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

import math
from dataclasses import dataclass, replace
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
    max_polyphony: at most this many pitches pressed in a frame; None: no cap;
    candidates: frames drawn per row where a head tempers by resampling (`resample`);
    greedy: every choice takes its likelier value, pitch by pitch (no randomness matters):
    the decode a reconstruction is scored by; temperature and top-p are then ignored.
    """

    temperature: float = 1.0
    top_p: float = 1.0
    allowed: torch.Tensor | None = None
    max_polyphony: int | None = None
    candidates: int = 32
    greedy: bool = False

    def untempered(self) -> Controls:
        """The same constraints at temperature 1 without top-p."""
        return replace(self, temperature=1.0, top_p=1.0)

    def allowed_on(self, alpha: int, device: torch.device) -> torch.Tensor:
        if self.allowed is None:
            return torch.ones(alpha, dtype=torch.bool, device=device)
        return self.allowed.to(device=device, dtype=torch.bool)

    def cap(self, alpha: int) -> int:
        return alpha if self.max_polyphony is None else min(alpha, self.max_polyphony)


@dataclass
class NoteSample:
    """One sampled frame per batch row: pressed, articulated [B, α] bool, velocity [B, α] in
    0..1, and log q(pressed) [B]: the frame's probability under the model restricted to the
    constraints, tempered as the head tempers (a resampling head reports it untempered)."""

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
    logits = conditionals.articulated_logits[:, -1].double()
    if controls.greedy:
        articulated = (logits > 0) & pressed
    else:
        p = bernoulli_top_p(torch.sigmoid(logits / controls.temperature), controls.top_p)
        articulated = (u < p) & pressed
    return articulated, conditionals.velocity[:, -1].float()


def bernoulli_top_p(p: torch.Tensor, top_p: float) -> torch.Tensor:
    """Nucleus sampling of one binary choice: the likelier value alone when it holds at least
    `top_p` of the mass, else both (p unchanged)."""
    if top_p >= 1.0:
        return p
    sure = torch.maximum(p, 1 - p) >= top_p
    return torch.where(sure, (p >= 0.5).to(p.dtype), p)


def resample(
    drawn: NoteSample, k: int, generator: torch.Generator, controls: Controls
) -> NoteSample:
    """Temperature and top-p on whole frames: from `k` frames drawn per row (rows of `drawn`
    in groups of k, each from the constrained model q), keep the ⌈top_p·k⌉ likeliest (a Monte
    Carlo nucleus: draws land in the nucleus in proportion to its mass) and choose one of them
    with weight q^(1/T − 1), sampling-importance-resampling whose law tends to q^(1/T) on the
    nucleus as k grows. A low temperature picks the likeliest whole frame among the draws (a
    held note, a melody step), never silence unless silence is likely; T → 0 or a tiny top-p
    picks the likeliest draw. log q of the chosen frame is reported untempered."""
    log_q = drawn.log_prob.view(-1, k)
    rows = log_q.shape[0]
    rank = log_q.argsort(dim=-1, descending=True, stable=True).argsort(dim=-1)
    kept = rank < max(1, math.ceil(controls.top_p * k - 1e-9))
    if controls.temperature == 1.0:
        weight = torch.zeros_like(log_q)
    else:
        weight = (1.0 / controls.temperature - 1.0) * log_q
    u = torch.rand(rows, k, generator=generator, dtype=torch.float64).to(log_q.device)
    gumbel = -(-u.clamp_min(1e-300).log()).log()
    score = torch.where(kept, weight - weight.max(-1, keepdim=True).values + gumbel, -math.inf)
    chosen = score.argmax(-1) + k * torch.arange(rows, device=log_q.device)
    return NoteSample(
        drawn.pressed[chosen], drawn.articulated[chosen], drawn.velocity[chosen],
        drawn.log_prob[chosen],
    )  # fmt: skip
