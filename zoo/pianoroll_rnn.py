"""pianoroll-rnn: the classic baseline of the polyphonic-music benchmark.

One LSTM/GRU reads the 88-pitch pressed roll (column 0 of N_t, nothing else: no articulation,
velocity, context or position) and an output head (`head`: `nade`, the default, or
`independent`, the benchmark's classic 88 Bernoullis; see mg.models.heads) gives the
distribution of the roll at t+1; its pressed NLL is the number the benchmark tables report.

The roll carries no articulation or velocity, so the head's articulation gets one more hint
from the input roll (its `pitch_bias`): a learned logit where the pitch is silent at t (a new
note) and another where it sounds at t (a held note may be re-struck), and a learned velocity
offset. Compare families on `nll_pressed` only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mg.models.heads import DEFAULT_HEAD, FrameDistribution, build_head
from mg.models.layers import make_rnn, note_loss, zero_state
from mg.models.protocol import NoteBatch


@dataclass
class PianorollConfig:
    backbone: str = "lstm"
    hidden: int = 256
    layers: int = 2
    dropout: float = 0.3
    alpha: int = 88  # pitches, from the dataset grid
    gamma: int = 16  # rows of P_t (Grid.position_width; unused: the roll has no position)
    head: str = DEFAULT_HEAD  # output distribution: nade | independent (mg.models.heads)
    head_units: int = 64  # NADE's hidden units K (unused by independent)


PRESETS = {
    "tiny": {"hidden": 32, "layers": 1, "dropout": 0.0, "head_units": 32},
    "base": {"hidden": 256, "layers": 2, "dropout": 0.3, "head_units": 64},
}


class PianorollRnn(nn.Module):
    """A single recurrent stream over the pressed roll; see the module docstring."""

    def __init__(self, config: PianorollConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.rnn = make_rnn(c.backbone, c.alpha, c.hidden, c.layers, c.dropout)
        self.dropout = nn.Dropout(c.dropout)
        self.head = build_head(c.head, c.hidden, c.alpha, c.head_units)
        # [logit of an onset where the pitch is silent at t, where it sounds at t]
        self.articulation = nn.Parameter(torch.tensor([4.0, -4.0]))
        self.velocity_logit = nn.Parameter(torch.zeros(1))

    def forward(self, batch: NoteBatch) -> FrameDistribution:
        output, _ = self._run(batch, None)
        return output

    def forward_from(self, state, batch: NoteBatch):
        """`forward` continued from `state` (None: the initial state); mg.models.protocol."""
        return self._run(batch, state)

    def loss(self, batch: NoteBatch, output: FrameDistribution):
        return note_loss(batch, output)

    def initial_state(self, batch_size: int):
        return zero_state(self.rnn, batch_size)

    def step(self, state, frame: NoteBatch):
        """One frame (T = 1) in, the distribution of the next frame out."""
        return self._run(frame, state)

    def _run(self, batch: NoteBatch, state):
        pressed = batch.notes[..., 0]  # [B, T, α]
        hidden, state = self.rnn(pressed, state)
        silent_logit, held_logit = self.articulation
        articulated = torch.where(pressed > 0, held_logit, silent_logit)
        velocity = self.velocity_logit.expand_as(articulated)
        hint = torch.stack([torch.zeros_like(articulated), articulated, velocity], dim=-1)
        return self.head(self.dropout(hidden), hint), state


def build(config: PianorollConfig) -> PianorollRnn:
    return PianorollRnn(config)
