"""three-branch: the patent's model. [N_t; P_t] → RNN₁ → O₁, [C_t; P_t] → RNN₂ → O₂, [O₁; O₂] → RNN₃.

RNN₃'s state goes through an output head (`head`: `nade`, the default, or `independent`; see
mg.models.heads) that gives the distribution of N_{t+1}: pressed, articulated given pressed,
velocity. `--backbone lstm|gru` switches all three RNNs. The patent's "CTC" loss does not fit a
frame-wise target (there is no alignment to marginalise), so the loss is −log p(pressed), the
NLL of articulated (given pressed) plus a squared velocity error (mg.models.layers.note_loss).

`pitch_skip` (on by default; `model.pitch_skip=False` is the patent's model exactly) adds the
pitch network (mg.models.pitch_net), one map shared by every pitch from what surrounds it (the
pitches `pitch_window` semitones around it in N_t and C_t, a running key profile, RNN₃'s state)
to its three outputs (the head's `pitch_bias`). Whether a pitch sounds now, whether its
neighbours do, whether its class belongs to the key: through the patent's stack each such fact
has to survive recurrent layers that compress all 88 pitches and be learned once per pitch;
with the pitch network it is learned once, in every key (measured: benchmarks/RESULTS-music.md;
`pitch_window=0` is the earlier skip from the pitch's own 6 numbers,
benchmarks/RESULTS-polyphonic.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mg.models.heads import DEFAULT_HEAD, FrameDistribution, build_head
from mg.models.layers import make_rnn, note_loss, position_one_hot, zero_state
from mg.models.pitch_net import PitchNet
from mg.models.protocol import NoteBatch


@dataclass
class ThreeBranchConfig:
    backbone: str = "lstm"
    hidden: int = 256
    layers: int = 2
    dropout: float = 0.2
    alpha: int = 88  # pitches, from the dataset grid
    gamma: int = 16  # rows of P_t (Grid.position_width), from the dataset grid
    pitch_skip: bool = True  # the pitch network: per-pitch biases from around each pitch
    pitch_window: int = 12  # semitones each side the pitch network reads (0: the pitch alone)
    pitch_units: int = 32  # the pitch network's hidden units
    head: str = DEFAULT_HEAD  # output distribution: nade | independent (mg.models.heads)
    head_units: int = 64  # NADE's hidden units K (unused by independent)


PRESETS = {
    "tiny": {"hidden": 32, "layers": 1, "dropout": 0.0, "head_units": 32},
    "base": {"hidden": 256, "layers": 2, "dropout": 0.2, "head_units": 64},
}


class ThreeBranch(nn.Module):
    """Three recurrent branches; see the module docstring."""

    def __init__(self, config: ThreeBranchConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        branch_in = 3 * (c.alpha + c.gamma)
        self.notes_rnn = make_rnn(c.backbone, branch_in, c.hidden, c.layers, c.dropout)
        self.context_rnn = make_rnn(c.backbone, branch_in, c.hidden, c.layers, c.dropout)
        self.notes_out = nn.Linear(c.hidden, 3 * c.alpha)  # O₁, α × 3
        self.context_out = nn.Linear(c.hidden, 3 * c.alpha)  # O₂, α × 3
        self.merge_rnn = make_rnn(c.backbone, 6 * c.alpha, c.hidden, c.layers, c.dropout)
        self.dropout = nn.Dropout(c.dropout)
        self.head = build_head(c.head, c.hidden, c.alpha, c.head_units)
        self.pitch_skip = (
            PitchNet(c.hidden, c.alpha, c.pitch_window, c.pitch_units) if c.pitch_skip else None
        )

    def forward(self, batch: NoteBatch) -> FrameDistribution:
        output, _ = self._run(batch, (None, None, None, None))
        return output

    def forward_from(self, state, batch: NoteBatch):
        """`forward` continued from `state` (None: the initial state); mg.models.protocol."""
        return self._run(batch, (None, None, None, None) if state is None else state)

    def loss(self, batch: NoteBatch, output: FrameDistribution):
        return note_loss(batch, output)

    def initial_state(self, batch_size: int):
        rnns = (self.notes_rnn, self.context_rnn, self.merge_rnn)
        states = tuple(zero_state(rnn, batch_size) for rnn in rnns)
        weight = self.notes_out.weight
        memory = (
            None if self.pitch_skip is None else self.pitch_skip.initial_memory(batch_size, weight)
        )
        return (*states, memory)

    def step(self, state, frame: NoteBatch):
        """One frame (T = 1) in, the distribution of the next frame out."""
        return self._run(frame, state)

    def _run(self, batch: NoteBatch, state):
        position = position_one_hot(batch.position, self.config.gamma)
        notes_in = torch.cat([batch.notes, position], dim=-2).flatten(-2)
        context_in = torch.cat([batch.context, position], dim=-2).flatten(-2)
        notes_h, notes_state = self.notes_rnn(notes_in, state[0])
        context_h, context_state = self.context_rnn(context_in, state[1])
        merged = torch.cat(
            [self.notes_out(self.dropout(notes_h)), self.context_out(self.dropout(context_h))], -1
        )
        merged_h, merged_state = self.merge_rnn(merged, state[2])
        features, skip, memory = self.dropout(merged_h), None, None
        if self.pitch_skip is not None:
            skip, memory = self.pitch_skip(batch.notes, batch.context, features, state[3])
        output = self.head(features, skip)
        return output, (notes_state, context_state, merged_state, memory)


def build(config: ThreeBranchConfig) -> ThreeBranch:
    return ThreeBranch(config)
