"""transformer: causal self-attention over frames, with a KV cache for generation.

Each frame t is one token: its note matrix N_t, its context C_t (both α × 3, flattened) and its
bar position P_t, projected to `hidden` numbers. A decoder-only stack of pre-norm blocks (causal
self-attention through torch's `scaled_dot_product_attention`, then a feed-forward layer) reads
the frames so far; the last block's output at t predicts frame t+1 exactly as the recurrent
families do (the same output heads, loss and sampler, and the same pitch network,
mg.models.pitch_net).

Positions are relative (rotary embeddings on queries and keys), so attention depends on how far
back a frame is, never on its absolute index: the model generates past its training length.
Generation keeps each layer's keys and values in a ring buffer of `window` frames (default 256, the
length of a default segment): `step` writes one frame's keys and values and attends to the buffer,
so any number of steps runs in bounded memory and flat time per step; `forward` over a sequence
longer than the window masks attention to the same band, so training, scoring and generation
agree at every length (each layer sees `window` frames back; stacked layers see further, as in
any sliding-window transformer). Attention without a mask
does not depend on the order of its keys, and the rotation is applied before a key is stored,
so the ring buffer needs no reordering.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from mg.models.heads import DEFAULT_HEAD, FrameDistribution, build_head
from mg.models.layers import note_loss, position_one_hot
from mg.models.pitch_net import PitchNet
from mg.models.protocol import NoteBatch


@dataclass
class TransformerConfig:
    backbone: str = "attention"  # the only one; kept so every family answers `--backbone`
    hidden: int = 256  # model dimension (the size `--hidden` sets, as in every family)
    layers: int = 4
    heads: int = 4
    ff_mult: int = 4  # feed-forward width = ff_mult × hidden
    dropout: float = 0.1
    window: int = 256  # frames kept in the generation cache (a default segment is 256 steps)
    rope_base: float = 10000.0
    alpha: int = 88  # pitches, from the dataset grid
    gamma: int = 16  # rows of P_t (Grid.position_width), from the dataset grid
    pitch_skip: bool = True  # the pitch network (mg.models.pitch_net), as in three-branch
    pitch_window: int = 12  # semitones each side the pitch network reads (0: the pitch alone)
    pitch_units: int = 32  # the pitch network's hidden units
    head: str = DEFAULT_HEAD  # output distribution: nade | independent (mg.models.heads)
    head_units: int = 64  # NADE's hidden units K (unused by independent)


PRESETS = {
    "tiny": {"hidden": 32, "layers": 2, "heads": 2, "ff_mult": 2, "dropout": 0.0, "head_units": 32},
    "base": {
        "hidden": 256,
        "layers": 4,
        "heads": 4,
        "ff_mult": 4,
        "dropout": 0.1,
        "head_units": 64,
    },
}


def rotary_tables(
    positions: torch.Tensor, head_dim: int, base: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin [L, head_dim/2] of the rotary embedding at integer `positions` [L]."""
    inverse = base ** (-torch.arange(0, head_dim, 2, device=positions.device) / head_dim)
    angles = positions.double()[:, None] * inverse.double()[None]  # float64: exact at long t
    return angles.cos().float(), angles.sin().float()


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs of channels of x [..., L, head_dim] by the angles of cos/sin [L, head_dim/2]."""
    even, odd = x[..., 0::2], x[..., 1::2]
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1).flatten(-2)


class Block(nn.Module):
    """Pre-norm causal self-attention and feed-forward, each with a residual connection."""

    def __init__(self, c: TransformerConfig) -> None:
        super().__init__()
        self.heads, self.head_dim = c.heads, c.hidden // c.heads
        self.norm1 = nn.LayerNorm(c.hidden)
        self.qkv = nn.Linear(c.hidden, 3 * c.hidden)
        self.proj = nn.Linear(c.hidden, c.hidden)
        self.norm2 = nn.LayerNorm(c.hidden)
        self.ff = nn.Sequential(
            nn.Linear(c.hidden, c.ff_mult * c.hidden),
            nn.GELU(),
            nn.Linear(c.ff_mult * c.hidden, c.hidden),
        )
        self.dropout = c.dropout

    def _qkv(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
        batch, length, _ = x.shape
        q, k, v = (
            self.qkv(self.norm1(x)).view(batch, length, 3, self.heads, self.head_dim).unbind(2)
        )
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # [B, H, L, D]
        return rotate(q, cos, sin), rotate(k, cos, sin), v

    def _finish(self, x: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
        attended = attended.transpose(1, 2).flatten(2)
        drop = self.dropout if self.training else 0.0
        x = x + F.dropout(self.proj(attended), drop, self.training)
        return x + F.dropout(self.ff(self.norm2(x)), drop, self.training)

    def forward(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, window: int
    ) -> torch.Tensor:
        """The whole sequence at once, causally; each frame sees at most `window` frames (itself
        included), as a step with the cache does."""
        q, k, v = self._qkv(x, cos, sin)
        drop = self.dropout if self.training else 0.0
        length = x.shape[1]
        if length <= window:
            attended = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, is_causal=True)
        else:
            offsets = torch.arange(length, device=x.device)
            back = offsets[:, None] - offsets[None, :]  # how far key j lies behind query i
            band = (back >= 0) & (back < window)
            attended = F.scaled_dot_product_attention(q, k, v, attn_mask=band, dropout_p=drop)
        return self._finish(x, attended)

    def step(self, x: torch.Tensor, cos, sin, cache: torch.Tensor, slot: int, filled: int):
        """One frame x [B, 1, W]: store its key and value in `cache` [2, B, H, window, D] at
        `slot`, attend to the `filled` frames held there."""
        q, k, v = self._qkv(x, cos, sin)
        cache[0, :, :, slot] = k[:, :, 0]
        cache[1, :, :, slot] = v[:, :, 0]
        keys, values = cache[0, :, :, :filled], cache[1, :, :, :filled]
        return self._finish(x, F.scaled_dot_product_attention(q, keys, values))


class Transformer(nn.Module):
    """A decoder-only transformer over frames; see the module docstring."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        c = config
        if c.hidden % c.heads or (c.hidden // c.heads) % 2:
            raise ValueError(
                f"hidden size {c.hidden} must split into {c.heads} heads of an even size"
            )
        self.config = config
        self.embed = nn.Linear(6 * c.alpha + c.gamma, c.hidden)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.layers))
        self.norm = nn.LayerNorm(c.hidden)
        self.head = build_head(c.head, c.hidden, c.alpha, c.head_units)
        self.pitch_skip = (
            PitchNet(c.hidden, c.alpha, c.pitch_window, c.pitch_units) if c.pitch_skip else None
        )

    def forward(self, batch: NoteBatch) -> FrameDistribution:
        x = self._embed(batch)
        cos, sin = self._rotary(torch.arange(x.shape[1], device=x.device))
        for block in self.blocks:
            x = block(x, cos, sin, self.config.window)
        return self._output(x, batch, None)[0]

    def loss(self, batch: NoteBatch, output: FrameDistribution):
        return note_loss(batch, output)

    def initial_state(self, batch_size: int):
        """An empty cache per layer, the index of the next frame and the pitch network's key
        memory."""
        c = self.config
        weight = self.embed.weight
        shape = (len(self.blocks), 2, batch_size, c.heads, c.window, c.hidden // c.heads)
        memory = (
            None if self.pitch_skip is None else self.pitch_skip.initial_memory(batch_size, weight)
        )
        return {"cache": weight.new_zeros(shape), "t": 0, "memory": memory}

    def step(self, state, frame: NoteBatch):
        """One frame (T = 1) in, the distribution of the next frame out; O(window) per step."""
        t = state["t"]
        x = self._embed(frame)
        cos, sin = self._rotary(torch.tensor([t], device=x.device))
        slot, filled = t % self.config.window, min(t + 1, self.config.window)
        for layer, block in enumerate(self.blocks):
            x = block.step(x, cos, sin, state["cache"][layer], slot, filled)
        output, memory = self._output(x, frame, state["memory"])
        return output, {"cache": state["cache"], "t": t + 1, "memory": memory}

    def _embed(self, batch: NoteBatch) -> torch.Tensor:
        position = position_one_hot(batch.position, self.config.gamma)[..., 0]
        frames = torch.cat([batch.notes.flatten(-2), batch.context.flatten(-2), position], -1)
        return self.embed(frames)

    def _rotary(self, positions: torch.Tensor):
        c = self.config
        return rotary_tables(positions, c.hidden // c.heads, c.rope_base)

    def _output(self, x: torch.Tensor, batch: NoteBatch, memory: torch.Tensor | None):
        features, skip = self.norm(x), None
        if self.pitch_skip is not None:
            skip, memory = self.pitch_skip(batch.notes, batch.context, features, memory)
        return self.head(features, skip), memory


def build(config: TransformerConfig) -> Transformer:
    return Transformer(config)
