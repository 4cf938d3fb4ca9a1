"""Shared pieces of the note families, composed (never inherited): the backbone and the loss
(the heads are in mg.models.heads)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from mg.models.heads.distribution import FrameDistribution
from mg.models.protocol import NoteBatch

BACKBONES = ("lstm", "gru")


def make_rnn(
    backbone: str, input_size: int, hidden: int, layers: int, dropout: float
) -> nn.RNNBase:
    """A batch-first LSTM or GRU: the one switch behind `--backbone`."""
    kinds = {"lstm": nn.LSTM, "gru": nn.GRU}
    if backbone not in kinds:
        raise ValueError(f"unknown backbone {backbone!r}; choose one of {', '.join(BACKBONES)}")
    inner_dropout = dropout if layers > 1 else 0.0
    return kinds[backbone](input_size, hidden, layers, batch_first=True, dropout=inner_dropout)


def zero_state(
    rnn: nn.RNNBase, batch_size: int
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """The recurrent state before the first step, on the RNN's device."""
    weight = next(rnn.parameters())
    shape = (rnn.num_layers, batch_size, rnn.hidden_size)
    h = torch.zeros(shape, dtype=weight.dtype, device=weight.device)
    return (h, h.clone()) if isinstance(rnn, nn.LSTM) else h


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def position_one_hot(position: torch.Tensor, gamma: int) -> torch.Tensor:
    """The stored position -> P_t as [B, T, γ, 3]: the patent's layout, repeated in 3 columns.

    The one helper every note family feeds its position through. Since schema 2, `position` is
    [B, T, 3]: the rows of the three ones of P_t, which is a multi-hot of γ rows (γ = the model
    config's `gamma` = `Grid.position_width`, 3ε + 12 + 16, 40 at ε = 4 steps per quarter):

        rows 0 … 3ε-1            step within the beat (compound meters beat in dotted notes)
        rows 3ε … 3ε+11          beat within the bar
        rows 3ε+12 … 3ε+27       the meter (4/4, 3/4, 2/4, 6/8, 9/8, 12/8, … "other")

    computed from each piece's real bar lines (`mg.representation.position`). A [B, T] index
    (a plain one-hot, as before schema 2) is accepted too. A family that wants the parts apart
    (an embedding per part, say) reads the same three indices.
    """
    hot = F.one_hot(position.long(), gamma).to(torch.float32)
    if position.dim() == 3:  # [B, T, 3, γ] -> the multi-hot [B, T, γ]
        hot = hot.sum(-2)
    return hot.unsqueeze(-1).expand(*hot.shape, 3)


def note_loss(
    batch: NoteBatch, distribution: FrameDistribution
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Next-frame loss: the distribution at step t scores notes[:, t+1].

    Per frame: −log p(pressed) (nats per frame, the quantity of the polyphonic-benchmark
    tables: the sum over pitches of each conditional's Bernoulli NLL, exact for every head),
    the Bernoulli NLL of articulated on the pitches that are pressed (articulation given
    pressed), and the squared velocity error on pressed pitches; each part is averaged over
    frames. The patent sums its per-step loss over steps; the mean differs from that sum only
    by a constant factor and keeps the learning rate independent of T.
    """
    target = batch.notes[:, 1:]
    output = distribution.time_slice(slice(None, -1)).conditionals(target)
    pressed, articulated, velocity = target[..., 0], target[..., 1], target[..., 2]
    weight = _frame_weight(batch)
    frames = weight.sum().clamp_min(1.0)
    nll_pressed = F.binary_cross_entropy_with_logits(
        output.pressed_logits, pressed, reduction="none"
    ).sum(-1)
    nll_articulated = (
        F.binary_cross_entropy_with_logits(output.articulated_logits, articulated, reduction="none")
        * pressed
    ).sum(-1)
    velocity_error = ((output.velocity - velocity) ** 2 * pressed).sum(-1)
    parts = {
        "nll_pressed": (nll_pressed * weight).sum() / frames,
        "nll_articulated": (nll_articulated * weight).sum() / frames,
        "velocity": (velocity_error * weight).sum() / frames,
    }
    return parts["nll_pressed"] + parts["nll_articulated"] + parts["velocity"], parts


def _frame_weight(batch: NoteBatch) -> torch.Tensor:
    shape = batch.notes.shape[:2]
    if batch.mask is None:
        return torch.ones(shape[0], shape[1] - 1, device=batch.notes.device)
    return batch.mask[:, 1:].to(batch.notes.dtype)
