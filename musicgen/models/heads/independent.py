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

import numpy as np
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

    summary = "88 independent Bernoullis given the past (the original model)"

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
        if controls.greedy:  # the likelier value of every pitch, the likeliest `cap` of them
            pressed = (p >= 0.5) & (p >= p.topk(controls.cap(alpha), -1).values[:, -1:])
            log_q = torch.zeros(rows, dtype=torch.float64, device=logits.device)
        elif controls.temperature == 1.0 and controls.cap(alpha) >= alpha:
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
    """Stage 1 and 2 of the module docstring; returns pressed [B, α] and log q [B].

    Stage 2 walks the pitches by events: with `need` pitches still to press, pitch d is pressed
    with probability q_d · tails[d+1][need-1] / tails[d][need]; that only changes when a pitch
    is pressed, so each loop finds the next pressed pitch of every row at once."""
    counts = _count_distribution(p)[:, : cap + 1]
    counts = counts / counts.sum(-1, keepdim=True).clamp_min(1e-300)
    k = (counts.cumsum(-1) <= u_count.unsqueeze(-1)).sum(-1).clamp_max(cap)
    while (counts.gather(1, k.unsqueeze(-1)) == 0).any():  # u past the rounded total
        k = torch.where(counts.gather(1, k.unsqueeze(-1)).squeeze(-1) == 0, k - 1, k)
    log_q = counts.gather(1, k.unsqueeze(-1)).squeeze(-1).log()
    tails = _tail_table(tempered, int(k.max())).permute(1, 0, 2)  # [B, α + 1, kmax + 1]
    rows, alpha = p.shape
    pitch = torch.arange(alpha, device=p.device)
    need, start = k.clone(), torch.zeros_like(k)
    pressed = torch.zeros_like(p, dtype=torch.bool)
    while (need > 0).any():
        at = lambda n: tails.gather(2, n.clamp_min(0)[:, None, None].expand(rows, alpha + 1, 1))  # noqa: E731
        whole, rest = at(need).squeeze(-1), at(need - 1).squeeze(-1)
        prob = tempered * rest[:, 1:] / whole[:, :-1].clamp_min(1e-300)
        prob = torch.where((need > 0).unsqueeze(-1), prob.clamp(0.0, 1.0), torch.zeros_like(prob))
        ahead = (pitch >= start.unsqueeze(-1)) & (need > 0).unsqueeze(-1)
        on = (u_pressed < prob) & ahead
        found = on.any(-1)
        first = torch.where(found, on.to(torch.uint8).argmax(-1), alpha)
        off = ahead & (pitch < first.unsqueeze(-1))
        log_q += torch.where(off, (1 - prob).clamp_min(1e-300).log(), 0.0).sum(-1)
        rows_on = found.nonzero().squeeze(-1)
        pressed[rows_on, first[rows_on]] = True
        log_q[rows_on] += prob[rows_on, first[rows_on]].clamp_min(1e-300).log()
        need = torch.where(found, need - 1, torch.zeros_like(need))  # no pitch left: stop
        start = first + 1
    return pressed, log_q


def _count_distribution(p: torch.Tensor) -> torch.Tensor:
    """[B, α + 1]: P(exactly k pitches pressed) for independent pitch probabilities p [B, α].
    (The two tables loop over pitches on NumPy float64 arrays: a tenth of torch's per-op cost.)"""
    probs = p.double().cpu().numpy()
    rows, alpha = probs.shape
    counts = np.zeros((rows, alpha + 1))
    counts[:, 0] = 1.0
    for d in range(alpha):
        on = probs[:, d : d + 1]
        counts[:, 1:] = counts[:, 1:] * (1 - on) + counts[:, :-1] * on
        counts[:, 0] *= 1 - probs[:, d]
    return torch.from_numpy(counts).to(p.device)


def _tail_table(q: torch.Tensor, top: int) -> torch.Tensor:
    """tails[d][:, j] = P(exactly j of the pitches d..α-1 pressed) under q, for j ≤ top."""
    probs = q.double().cpu().numpy()
    rows, alpha = probs.shape
    tails = np.zeros((alpha + 1, rows, top + 1))
    tails[alpha][:, 0] = 1.0
    for d in range(alpha - 1, -1, -1):
        on, after = probs[:, d : d + 1], tails[d + 1]
        tails[d][:, 1:] = after[:, 1:] * (1 - on) + after[:, :-1] * on
        tails[d][:, 0] = after[:, 0] * (1 - probs[:, d])
    return torch.from_numpy(tails).to(q.device)
