"""`nade`: p(frame | h_t) = Π_d p(pressed_d | pressed_<d, h_t), pitches low to high (RNN-NADE).

NADE (Larochelle & Murray 2011) conditioned on the time axis as in RNN-NADE
(Boulanger-Lewandowski et al. 2012): h_t gives the visible biases b(h_t) [α] and the hidden
biases c(h_t) [K]; with weights W, V [α, K] shared by every step,

    a_d = c(h_t) + Σ_{e<d} W_e · pressed_e,    logit p(pressed_d | pressed_<d) = b_d + V_d · σ(a_d).

Training computes every a_d at once (the sum over lower pitches as one matrix product with a
strictly triangular copy of W: no Python loop over pitches); sampling walks the pitches one by
one. Articulation and velocity of every pitch
are predicted from h_t and σ(a_α), the NADE state after the whole pressed frame: they are
conditioned on the frame's pressed pitches.

Sampling: a pitch outside `allowed`, or past `max_polyphony` pressed pitches, has probability 0
as the walk reaches it and the walk goes on with the others, so constraints hold exactly.
Temperature and top-p act on the whole frame, not on each conditional: tempering every
conditional silences the music (a pitch walked past at p = 0.1 falls to 0.03 at T 0.5, and a
NADE that is not sure where the melody note lies has every conditional low: a 20-minute folk
model at top-p 0.9 sampled nothing but rests) and pushes the notes up the walk. So at another
temperature or top-p the head draws `controls.candidates` frames from the model and chooses
one by the frame's own probability (`mg.models.heads.distribution.resample`).
"""

from __future__ import annotations

import torch
from torch import nn

from mg.models.heads.distribution import (
    Controls,
    NoteSample,
    draw_articulation,
    pressed_log_prob,
    resample,
    uniforms,
)
from mg.models.protocol import NoteOutput


class NadeHead(nn.Module):
    """Hidden features [B, T, H] (+ per-pitch biases [B, T, α, 3]) → `NadeFrame`."""

    summary = (
        "pitch by pitch, p(pitch d | lower pitches, past): a frame's notes depend on each other"
    )

    def __init__(self, hidden: int, alpha: int, units: int) -> None:
        super().__init__()
        self.alpha, self.units = alpha, units
        self.biases = nn.Linear(hidden, alpha + units + 2 * alpha)  # b, c, articulation+velocity
        self.input_weight = nn.Parameter(nn.init.normal_(torch.empty(alpha, units), std=0.05))  # W
        self.output_weight = nn.Parameter(nn.init.normal_(torch.empty(alpha, units), std=0.05))  # V
        self.frame_out = nn.Linear(units, 2 * alpha)  # σ(a_α) → articulation, velocity

    def forward(self, features: torch.Tensor, pitch_bias: torch.Tensor | None = None) -> NadeFrame:
        visible, hidden, frame = self.biases(features).split(
            [self.alpha, self.units, 2 * self.alpha], dim=-1
        )
        if pitch_bias is not None:
            visible = visible + pitch_bias[..., 0]
            frame = frame + torch.cat([pitch_bias[..., 1], pitch_bias[..., 2]], dim=-1)
        return NadeFrame(self, visible, hidden, frame)

    def set_pressed_prior(self, log_odds: torch.Tensor) -> None:
        """Start every visible bias at the data's per-pitch log-odds."""
        with torch.no_grad():
            self.biases.bias[: self.alpha] = log_odds.to(self.biases.bias)


class NadeFrame:
    """The `FrameDistribution` of a `NadeHead` (see mg.models.heads.distribution)."""

    def __init__(self, head: NadeHead, visible, hidden, frame) -> None:
        self.head, self.visible, self.hidden, self.frame = head, visible, hidden, frame

    def time_slice(self, steps: slice) -> NadeFrame:
        return NadeFrame(
            self.head, self.visible[:, steps], self.hidden[:, steps], self.frame[:, steps]
        )

    def conditionals(self, frame: torch.Tensor) -> NoteOutput:
        """Every a_d in one matrix product: the cumulative sum over lower pitches is the frame
        times a strictly triangular copy of W (cheaper on the CPU than mul + cumsum)."""
        weight = self.head.input_weight
        pressed = frame[..., 0].to(weight.dtype)
        alpha, units = weight.shape
        below = torch.ones(alpha, alpha, dtype=weight.dtype, device=weight.device).triu(1)
        wide = (below.unsqueeze(-1) * weight.unsqueeze(1)).reshape(alpha, alpha * units)
        before = self.hidden.unsqueeze(-2) + (pressed @ wide).reshape(*pressed.shape, units)
        logits = self.visible + (torch.sigmoid(before) * self.head.output_weight).sum(-1)
        after = torch.sigmoid(self.hidden + pressed @ weight)
        return self._articulation(logits, after)

    def log_prob(self, frame: torch.Tensor) -> torch.Tensor:
        return pressed_log_prob(self.conditionals(frame), frame)

    def _articulation(self, pressed_logits: torch.Tensor, after: torch.Tensor) -> NoteOutput:
        articulated, velocity = (self.frame + self.head.frame_out(after)).chunk(2, dim=-1)
        return NoteOutput(pressed_logits, articulated, torch.sigmoid(velocity))

    @torch.no_grad()
    def sample(self, generator: torch.Generator, controls: Controls) -> NoteSample:
        if controls.greedy or (controls.temperature == 1.0 and controls.top_p >= 1.0):
            return self._walk(generator, controls)
        k = controls.candidates
        last = self.time_slice(slice(-1, None))
        many = NadeFrame(
            self.head, *(x.repeat_interleave(k, 0) for x in (last.visible, last.hidden, last.frame))
        )
        drawn = many._walk(generator, controls.untempered(), group=k)
        return resample(drawn, k, generator, controls)

    def _walk(self, generator: torch.Generator, controls: Controls, group: int = 1) -> NoteSample:
        """The pitch-by-pitch walk at temperature 1 (or greedy), done by events: between two pressed
        pitches the NADE state does not change, so one matrix product gives every remaining
        conditional at once and the next pressed pitch of each row is the first whose draw
        falls under its probability; the loop runs once per pressed pitch, not per pitch.
        Rows in groups of `group` (the candidates of one frame) share their articulation
        draws: the same pressed frame drawn twice is the same frame."""
        head, visible = self.head, self.visible[:, -1]
        rows, alpha = visible.shape
        device = visible.device
        u_pressed, u_articulated = uniforms(generator, rows, alpha, device)
        u_articulated = u_articulated[::group].repeat_interleave(group, 0)
        allowed = controls.allowed_on(alpha, device)
        cap, pitch = controls.cap(alpha), torch.arange(alpha, device=device)
        state = self.hidden[:, -1].clone()
        pressed = torch.zeros(rows, alpha, dtype=torch.bool, device=device)
        count = torch.zeros(rows, dtype=torch.long, device=device)
        start = torch.zeros(rows, dtype=torch.long, device=device)  # next pitch to decide
        log_q = torch.zeros(rows, dtype=torch.float64, device=device)
        live = torch.arange(rows, device=device)  # rows whose walk goes on
        while live.numel():
            logits = visible[live] + torch.sigmoid(state[live]) @ head.output_weight.T
            open_ = allowed & (count[live] < cap).unsqueeze(-1)
            p = torch.where(open_, torch.sigmoid(logits.double()), 0.0)
            if controls.greedy:
                p = (p >= 0.5).to(p.dtype)
            ahead = pitch >= start[live].unsqueeze(-1)
            on = (u_pressed[live] < p) & ahead
            found = on.any(-1)
            first = torch.where(found, on.to(torch.uint8).argmax(-1), alpha)
            off = ahead & (pitch < first.unsqueeze(-1))
            log_q[live] += torch.where(off, (1 - p).clamp_min(1e-300).log(), 0.0).sum(-1)
            hit, chosen = live[found], first[found]
            pressed[hit, chosen] = True
            log_q[hit] += p[found, chosen].clamp_min(1e-300).log()
            state[hit] += head.input_weight[chosen]
            count[hit] += 1
            start[hit] = chosen + 1
            live = hit
        last = self._articulation(visible.unsqueeze(1), torch.sigmoid(state).unsqueeze(1))
        articulated, velocity = draw_articulation(last, pressed, u_articulated, controls)
        return NoteSample(pressed, articulated, velocity, log_q)
