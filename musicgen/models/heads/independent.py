"""`independent`: the 88 Bernoullis, p(frame | h_t) = Π_d p(pressed_d | h_t).

One linear map from the hidden features gives every pitch's pressed and articulated logits and
its velocity; nothing ties the pitches of a frame together.

Sampling: at temperature 1 with no polyphony cap the pitches are drawn independently, exactly
the model's distribution (top-p first zeroes the least likely pitches beyond that share of the
summed pressed probability; `allowed` zeroes the others: for independent pitches that is the
exact conditional). Tempering each pitch on its own would silence the music (every p < 0.5
shrinks), so another temperature, or a polyphony cap, draws the frame in two stages:

1. the number of pressed pitches k from the model's own count distribution (Poisson-binomial
   of the pitch probabilities), truncated to k ≤ max_polyphony: temperature never changes how
   many notes sound, and the cap is the exact conditional p(k | k ≤ N);
2. which k pitches, from p(frame)^(1/T) restricted to frames of k pitches (a conditional
   Bernoulli with logits / T, sampled exactly pitch by pitch with a tail table): a low
   temperature picks likelier pitches, a high one spreads the choice.

At T = 1 the two stages multiply back to the model's p(frame) (capped at N).
"""

from __future__ import annotations

import torch
from torch import nn

from mg.models.heads.distribution import (
    Controls,
    NoteSample,
    draw_articulation,
    pressed_log_prob,
    uniforms,
)
from mg.models.protocol import NoteOutput


class IndependentHead(nn.Module):
    """Hidden features [B, T, H] (+ per-pitch biases [B, T, α, 3]) → `IndependentFrame`."""

    def __init__(self, hidden: int, alpha: int, units: int = 0) -> None:
        super().__init__()
        self.alpha = alpha
        self.linear = nn.Linear(hidden, 3 * alpha)  # pressed, articulated, velocity

    def forward(self, features: torch.Tensor, pitch_bias: torch.Tensor | None = None):
        pressed, articulated, velocity = self.linear(features).chunk(3, dim=-1)
        if pitch_bias is not None:
            pressed = pressed + pitch_bias[..., 0]
            articulated = articulated + pitch_bias[..., 1]
            velocity = velocity + pitch_bias[..., 2]
        return IndependentFrame(NoteOutput(pressed, articulated, torch.sigmoid(velocity)))

    def set_pressed_prior(self, log_odds: torch.Tensor) -> None:
        with torch.no_grad():
            self.linear.bias[: self.alpha] = log_odds.to(self.linear.bias)


class IndependentFrame:
    """The `FrameDistribution` of an `IndependentHead` (see mg.models.heads.distribution)."""

    def __init__(self, output: NoteOutput) -> None:
        self.output = output

    def time_slice(self, steps: slice) -> IndependentFrame:
        o = self.output
        return IndependentFrame(
            NoteOutput(
                o.pressed_logits[:, steps], o.articulated_logits[:, steps], o.velocity[:, steps]
            )
        )

    def conditionals(self, frame: torch.Tensor) -> NoteOutput:
        return self.output

    def log_prob(self, frame: torch.Tensor) -> torch.Tensor:
        return pressed_log_prob(self.output, frame)

    @torch.no_grad()
    def sample(self, generator: torch.Generator, controls: Controls) -> NoteSample:
        logits = self.output.pressed_logits[:, -1].double()
        rows, alpha = logits.shape
        u_count = torch.rand(rows, generator=generator, dtype=torch.float64).to(logits.device)
        u_pressed, u_articulated = uniforms(generator, rows, alpha, logits.device)
        support = controls.allowed_on(alpha, logits.device) & _nucleus(logits, controls.top_p)
        p = torch.where(support, torch.sigmoid(logits), torch.zeros_like(logits))
        if controls.temperature == 1.0 and controls.cap(alpha) >= alpha:
            pressed = u_pressed < p
            log_q = torch.where(pressed, p, 1 - p).clamp_min(1e-300).log().sum(-1)
        else:
            tempered = torch.where(support, torch.sigmoid(logits / controls.temperature), p)
            pressed, log_q = _count_then_pitches(
                p, tempered, controls.cap(alpha), u_count, u_pressed
            )
        articulated, velocity = draw_articulation(self.output, pressed, u_articulated, controls)
        return NoteSample(pressed, articulated, velocity, log_q)


def _nucleus(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """[B, α] bool: the likeliest pitches holding `top_p` of the summed pressed probability."""
    if top_p >= 1.0:
        return torch.ones_like(logits, dtype=torch.bool)
    ordered, order = torch.sigmoid(logits).sort(dim=-1, descending=True)
    total = ordered.sum(-1, keepdim=True).clamp_min(1e-12)
    keep_sorted = (ordered.cumsum(-1) - ordered) / total < top_p
    return torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)


def _count_then_pitches(p, tempered, cap: int, u_count, u_pressed):
    """Stage 1 and 2 of the module docstring; returns pressed [B, α] and log q [B]."""
    counts = _count_distribution(p)[:, : cap + 1]
    counts = counts / counts.sum(-1, keepdim=True).clamp_min(1e-300)
    k = (counts.cumsum(-1) <= u_count.unsqueeze(-1)).sum(-1).clamp_max(cap)
    while (counts.gather(1, k.unsqueeze(-1)).squeeze(-1) == 0).any():  # rounding at the top
        k = torch.where(counts.gather(1, k.unsqueeze(-1)).squeeze(-1) == 0, k - 1, k)
    log_q = counts.gather(1, k.unsqueeze(-1)).squeeze(-1).log()
    tails = _tail_table(tempered, int(k.max()))  # [α + 1, B, kmax + 1]
    need, pressed = k.clone(), torch.zeros_like(p, dtype=torch.bool)
    for d in range(p.shape[1]):
        take = tempered[:, d] * tails[d + 1].gather(1, (need - 1).clamp_min(0)[:, None]).squeeze(1)
        whole = tails[d].gather(1, need[:, None]).squeeze(1)
        prob = torch.where(need > 0, take / whole.clamp_min(1e-300), torch.zeros_like(take))
        prob = prob.clamp(0.0, 1.0)
        on = u_pressed[:, d] < prob
        log_q += torch.where(on, prob, 1 - prob).clamp_min(1e-300).log()
        pressed[:, d], need = on, need - on.long()
    return pressed, log_q


def _count_distribution(p: torch.Tensor) -> torch.Tensor:
    """[B, α + 1]: P(exactly k pitches pressed) for independent pitch probabilities p [B, α]."""
    rows, alpha = p.shape
    counts = torch.zeros(rows, alpha + 1, dtype=p.dtype, device=p.device)
    counts[:, 0] = 1.0
    for d in range(alpha):
        shifted = torch.nn.functional.pad(counts[:, :-1], (1, 0))
        counts = counts * (1 - p[:, d : d + 1]) + shifted * p[:, d : d + 1]
    return counts


def _tail_table(q: torch.Tensor, top: int) -> torch.Tensor:
    """tails[d][:, j] = P(exactly j of the pitches d..α-1 pressed) under q, for j ≤ top."""
    rows, alpha = q.shape
    tails = torch.zeros(alpha + 1, rows, top + 1, dtype=q.dtype, device=q.device)
    tails[alpha][:, 0] = 1.0
    for d in range(alpha - 1, -1, -1):
        shifted = torch.nn.functional.pad(tails[d + 1][:, :-1], (1, 0))
        tails[d] = tails[d + 1] * (1 - q[:, d : d + 1]) + shifted * q[:, d : d + 1]
    return tails
