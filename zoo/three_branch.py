"""three-branch: the patent's model. [N_t; P_t] → RNN₁ → O₁, [C_t; P_t] → RNN₂ → O₂, [O₁; O₂] → RNN₃.

RNN₃'s state goes through an output head (`head`: `nade`, the default, or `independent`; see
mg.models.heads) that gives the distribution of N_{t+1}: pressed, articulated given pressed,
velocity. `--backbone lstm|gru` switches all three RNNs. The patent's "CTC" loss does not fit a
frame-wise target (there is no alignment to marginalise), so the loss is −log p(pressed), the
NLL of articulated (given pressed) plus a squared velocity error (mg.models.layers.note_loss).

`pitch_skip` (on by default; `model.pitch_skip=False` is the patent's model exactly) adds one
small map shared by every pitch, from that pitch's [N_t; C_t] (6 numbers) straight to its three
outputs (the head's `pitch_bias`). Whether a pitch sounds now is the best single predictor of whether it sounds next and
of whether it is re-struck, but through the patent's stack that fact has to survive two
recurrent layers that compress all 88 pitches; with the skip the branches learn the music
instead (measured with and without it: benchmarks/RESULTS-polyphonic.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mg.models.heads import DEFAULT_HEAD, FrameDistribution, build_head
from mg.models.layers import make_rnn, note_loss, position_one_hot, zero_state
from mg.models.protocol import NoteBatch


@dataclass
class ThreeBranchConfig:
    backbone: str = "lstm"
    hidden: int = 256
    layers: int = 2
    dropout: float = 0.2
    alpha: int = 88  # pitches, from the dataset grid
    gamma: int = 16  # rows of P_t (Grid.position_width), from the dataset grid
    pitch_skip: bool = True  # [N_t; C_t] of each pitch straight to its outputs (see above)
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
        self.pitch_skip = nn.Linear(6, 3) if c.pitch_skip else None

    def forward(self, batch: NoteBatch) -> FrameDistribution:
        output, _ = self._run(batch, (None, None, None))
        return output

    def loss(self, batch: NoteBatch, output: FrameDistribution):
        return note_loss(batch, output)

    def initial_state(self, batch_size: int):
        rnns = (self.notes_rnn, self.context_rnn, self.merge_rnn)
        return tuple(zero_state(rnn, batch_size) for rnn in rnns)

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
        skip = None
        if self.pitch_skip is not None:
            skip = self.pitch_skip(torch.cat([batch.notes, batch.context], dim=-1))
        output = self.head(self.dropout(merged_h), skip)
        return output, (notes_state, context_state, merged_state)


def build(config: ThreeBranchConfig) -> ThreeBranch:
    return ThreeBranch(config)
