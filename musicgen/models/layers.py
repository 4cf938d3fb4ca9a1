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
    """[B, T] indices -> the patent's P_t as [B, T, γ, 3] (one-hot repeated in 3 columns)."""
    one_hot = F.one_hot(position.long(), gamma).to(torch.float32)
    return one_hot.unsqueeze(-1).expand(*one_hot.shape, 3)


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
