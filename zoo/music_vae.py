"""music-vae: a variational auto-encoder over segments of N/C/P frames (MusicVAE, Roberts et al. 2018).

Encoder: a bidirectional LSTM/GRU reads the segment's frames [N_t ; P_t] and its two final
states give the mean and log-variance of a latent z (`latent` units). Decoder, hierarchical: a
conductor RNN, fed z at every bar, emits one embedding c_b per bar; a bar decoder RNN, started
afresh from c_b at each bar line (so it must listen to the conductor), reads the previous frame,
the position P_t of the frame it predicts and c_b, and ends in a note family's output head
(`head`: nade or independent, mg.models.heads) that gives p(N_t | N_<t, z). `--backbone
lstm|gru` switches every RNN.

A segment is `bars` bars of ε·ζ steps (`bar_steps`), what `mg ingest --bars N` cuts: trained on
a dataset of longer segments, the model cuts windows of its own length from them, each starting
at a real bar line (read from P_t), and skips windows of silence (padding).

Loss per frame: the reconstruction NLL (pressed, articulated given pressed, squared velocity
error, as `note_loss`) on the frames of the batch's mask (`mg.data.notes.music_mask`: not the
silence before a segment's first note or after its last) plus β·KL(q(z|x) ‖ N(0, I)) / frames, with free bits per latent unit (a
unit's batch-mean KL under `free_bits` nats costs nothing, so units are not pushed to collapse;
`free_bits_over="total"` floors the sum instead, MusicVAE's max(KL − τ, 0) with τ = latent ·
free_bits, which lets some units carry more than others for free) and β raised linearly from 0 over the first `kl_warmup` optimiser steps (the trainer tells the
step through `set_step`). In training the decoder sees a `frame_dropout` share of its previous
frames as silence (word dropout, Bowman et al. 2016): it cannot lean on the last frame alone and
must read the music from z, which keeps the posterior from collapsing and a free-running decode
close to the teacher-forced one. In eval mode the loss also decodes every segment greedily from the
mean of q and counts the frames decoded exactly and the note-level hits: the reconstruction
accuracy that validation and `mg evaluate` report.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from mg.models.heads import DEFAULT_HEAD, FrameDistribution, build_head
from mg.models.layers import make_rnn, position_one_hot
from mg.models.protocol import NoteBatch, NoteOutput
from mg.representation.position import step_rows


@dataclass
class MusicVaeConfig:
    backbone: str = "lstm"
    bars: int = 2  # bars per segment (the encoder reads, the decoder writes, this many)
    hidden: int = 256  # encoder (each direction), conductor and bar decoder
    latent: int = 128  # units of z
    layers: int = 1  # of each RNN
    dropout: float = 0.0
    beta: float = 0.2  # weight of the KL term once warmed up
    free_bits: float = 0.5  # nats per latent unit that cost nothing
    free_bits_over: str = "unit"  # "unit": each unit's KL floored; "total": the sum's (MusicVAE)
    kl_warmup: int = 2000  # optimiser steps over which β rises from 0
    alpha: int = 88  # pitches, from the dataset grid
    gamma: int = 40  # rows of P_t (Grid.position_width), from the dataset grid
    bar_steps: int = 16  # steps of a nominal bar (Grid.gamma = ε·ζ), from the dataset grid
    steps_per_beat: int = 4  # ε, from the dataset grid (finds bar lines in P_t)
    pitch_skip: bool = True  # the previous frame of each pitch straight to its outputs
    frame_dropout: float = 0.3  # training: the share of previous frames the decoder sees as silence
    head: str = DEFAULT_HEAD  # output distribution: nade | independent (mg.models.heads)
    head_units: int = 64  # NADE's hidden units K (unused by independent)


PRESETS = {
    "tiny": {"bars": 2, "hidden": 32, "latent": 16, "head_units": 16, "kl_warmup": 100},
    "base": {"bars": 2, "hidden": 256, "latent": 128, "kl_warmup": 1000, "frame_dropout": 0.7},
    "2bar": {"bars": 2, "hidden": 256, "latent": 128, "kl_warmup": 1000, "frame_dropout": 0.7},
    "16bar": {"bars": 16, "hidden": 512, "latent": 256, "kl_warmup": 5000},
}

ACTIVE_VARIANCE = 0.01  # a unit is active when Var_x E_q[z_u] exceeds this (Burda et al. 2016)
EVAL_SEED = 0  # eval mode draws z ~ q(z|x) from this seed: the same weights give the same ELBO


@dataclass
class VaeOutput:
    """The decoder's distributions of every frame of every window [N, W] (the frame t
    distribution scores frame t: the first frame too, from z alone), z's posterior, and the
    windows the model read. `conditionals`/`log_prob` make it score frames like a
    `FrameDistribution` (aligned with the batch when no window was cut)."""

    distribution: FrameDistribution
    mu: torch.Tensor  # [N, latent]
    logvar: torch.Tensor
    notes: torch.Tensor  # [N, W, α, 3]
    position: torch.Tensor  # [N, W, ...]
    mask: torch.Tensor | None = None  # [N, W] bool: the frames scored (None: all)

    def conditionals(self, frame: torch.Tensor) -> NoteOutput:
        return self.distribution.conditionals(frame)

    def log_prob(self, frame: torch.Tensor) -> torch.Tensor:
        return self.distribution.log_prob(frame)


@dataclass
class DecoderState:
    """Where a step-by-step decode is: the conductor's bar embeddings, the bar decoder's
    recurrent state and the step it decodes next."""

    bars: torch.Tensor  # [N, bars, hidden]
    rnn: object
    t: int = 0


class MusicVae(nn.Module):
    """Encoder, conductor and bar decoder; see the module docstring."""

    def __init__(self, config: MusicVaeConfig) -> None:
        super().__init__()
        self.config = c = config
        frame_in = 3 * c.alpha + c.gamma
        self.encoder = make_bidirectional(c.backbone, frame_in, c.hidden, c.layers, c.dropout)
        self.posterior = nn.Linear(2 * c.hidden, 2 * c.latent)
        self.conductor_start = nn.Linear(c.latent, _state_width(c))
        self.conductor = make_rnn(c.backbone, c.latent, c.hidden, c.layers, c.dropout)
        self.bar_start = nn.Linear(c.hidden, _state_width(c))
        self.decoder = make_rnn(c.backbone, frame_in + c.hidden, c.hidden, c.layers, c.dropout)
        self.dropout = nn.Dropout(c.dropout)
        self.head = build_head(c.head, c.hidden, c.alpha, c.head_units)
        self.pitch_skip = nn.Linear(3, 3) if c.pitch_skip else None
        self.step_count = 0  # optimiser steps so far (the KL warm-up), told by the trainer
        self.logged_parts = ("recon", "kl", "beta")  # the loss parts the trainer logs per epoch

    # -- the latent-model protocol (mg.models.protocol.LatentModel) --------------------------

    @property
    def segment_steps(self) -> int:
        return self.config.bars * self.config.bar_steps

    @property
    def latent_size(self) -> int:
        return self.config.latent

    def encode(self, batch: NoteBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Segments [N, W, α, 3] (+ their P_t) → mean and log-variance of q(z | x), [N, latent]."""
        c = self.config
        frames = torch.cat([batch.notes.flatten(-2), self._position(batch.position)], dim=-1)
        _, state = self.encoder(frames)
        h = state[0] if isinstance(state, tuple) else state  # [layers·2, N, hidden]
        last = torch.cat([h[-2], h[-1]], dim=-1)  # the top layer, both directions
        mu, logvar = self.posterior(last).split(c.latent, dim=-1)
        return mu, logvar.clamp(-12.0, 8.0)

    def decoder_state(self, z: torch.Tensor, bars: int | None = None) -> DecoderState:
        """The conductor's embedding of each bar, before the first frame is decoded."""
        bars = bars or self.config.bars
        start = self._rnn_state(self.conductor, self.conductor_start(z))
        inputs = z.unsqueeze(1).expand(-1, bars, -1)
        embeddings, _ = self.conductor(inputs, start)
        return DecoderState(embeddings, None, 0)

    def decode_step(self, state: DecoderState, frame: NoteBatch):
        """One frame: `frame.notes` [N, 1, α, 3] is frame t-1 (silence at t = 0) and
        `frame.position` the P_t of frame t; returns (the distribution of frame t, next state)."""
        bar = min(state.t // self.config.bar_steps, state.bars.shape[1] - 1)
        embedding = state.bars[:, bar : bar + 1]
        rnn_state = state.rnn
        if state.t % self.config.bar_steps == 0 or rnn_state is None:
            rnn_state = self._rnn_state(self.decoder, self.bar_start(embedding[:, 0]))
        distribution, rnn_state = self._decode(frame.notes, frame.position, embedding, rnn_state)
        return distribution, DecoderState(state.bars, rnn_state, state.t + 1)

    # -- training ----------------------------------------------------------------------------

    def set_step(self, step: int) -> None:
        """The trainer's optimiser step, before each training step (the KL warm-up)."""
        self.step_count = step

    def forward(self, batch: NoteBatch) -> VaeOutput:
        notes, position, mask = self.windows(batch)
        mu, logvar = self.encode(NoteBatch(notes, notes, position))
        noise = self._noise(mu)
        z = mu + torch.exp(0.5 * logvar) * noise
        distribution = self.teacher_forced(z, notes, position)
        return VaeOutput(distribution, mu, logvar, notes, position, mask)

    def teacher_forced(self, z: torch.Tensor, notes: torch.Tensor, position: torch.Tensor):
        """p(frame t | frames < t, z) for every frame of `notes` [N, W, α, 3] at once: every
        bar decodes in parallel from its conductor embedding, fed the true previous frames."""
        n, steps = notes.shape[:2]
        size = self.config.bar_steps
        bars = -(-steps // size)
        embeddings = self.decoder_state(z, bars).bars  # [N, bars, H]
        previous = torch.cat([torch.zeros_like(notes[:, :1]), notes[:, :-1]], dim=1)
        if self.training and self.config.frame_dropout > 0:  # make the decoder listen to z
            keep = torch.rand(n, steps, 1, 1, device=notes.device) >= self.config.frame_dropout
            previous = previous * keep
        pad = bars * size - steps
        if pad:
            previous = torch.cat([previous, previous.new_zeros(n, pad, *previous.shape[2:])], 1)
            position = torch.cat(
                [position, position[:, -1:].expand(n, pad, *position.shape[2:])], 1
            )
        split = lambda t: t.reshape(n * bars, size, *t.shape[2:])  # noqa: E731
        per_bar = embeddings.reshape(n * bars, 1, -1)
        start = self._rnn_state(self.decoder, self.bar_start(per_bar[:, 0]))
        distribution, _ = self._decode(split(previous), split(position), per_bar, start)
        return _reshaped(distribution, n, bars * size).time_slice(slice(0, steps))

    def loss(self, batch: NoteBatch, output: VaeOutput):
        """See the module docstring; the parts are per frame except `kl` (nats per segment)."""
        c = self.config
        target = output.notes
        conditionals = output.distribution.conditionals(target)
        pressed, articulated, velocity = target[..., 0], target[..., 1], target[..., 2]
        nll_pressed = F.binary_cross_entropy_with_logits(
            conditionals.pressed_logits, pressed, reduction="none"
        ).sum(-1)
        nll_articulated = (
            F.binary_cross_entropy_with_logits(
                conditionals.articulated_logits, articulated, reduction="none"
            )
            * pressed
        ).sum(-1)
        velocity_error = ((conditionals.velocity - velocity) ** 2 * pressed).sum(-1)
        weight = frame_weight(output)  # [N, W]: the music's frames (`music_mask`), not padding
        frames = weight.sum().clamp_min(1.0)
        steps = frames / len(target)  # scored frames per segment
        mean = lambda per_frame: (per_frame * weight).sum() / frames  # noqa: E731
        kl_units = 0.5 * (output.mu**2 + output.logvar.exp() - 1.0 - output.logvar)  # [N, Z]
        kl = kl_units.sum(-1).mean()
        if c.free_bits_over == "total":  # MusicVAE: max(KL − τ, 0), τ = latent · free_bits
            penalty = (kl - kl_floor(c)).clamp_min(0.0) + kl_floor(c)
        else:
            penalty = kl_units.mean(0).clamp_min(c.free_bits).sum()
        beta = c.beta * min(1.0, self.step_count / c.kl_warmup) if c.kl_warmup else c.beta
        if not self.training:
            beta = c.beta
        recon = mean(nll_pressed + nll_articulated + velocity_error)
        parts = {
            "nll_pressed": mean(nll_pressed),
            "nll_articulated": mean(nll_articulated),
            "velocity": mean(velocity_error),
            "recon": recon,
            "kl": kl,
            "beta": torch.tensor(beta),
            "elbo": mean(nll_pressed + nll_articulated) + kl / steps,
            "active_units": active_units(output.mu),
            "segments": torch.tensor(float(len(target))),
            "frames": frames.detach(),
        }
        if not self.training:
            parts.update(self.reconstruction_counts(output))
        return recon + beta * penalty / steps, parts

    @torch.no_grad()
    def reconstruction_counts(self, output: VaeOutput) -> dict[str, torch.Tensor]:
        """Greedy decode from the mean of q: frames whose pressed and articulated pitches are
        all right, and note hits (a note: a pitch articulated at a step)."""
        from mg.generation.latent import decode_greedy  # the sampler (mg.generation) is above us

        decoded = torch.from_numpy(decode_greedy(self, output.mu, output.position.cpu()))
        decoded = decoded.to(output.notes.device)
        return reconstruction_counts(decoded, output.notes, output.mask)

    # -- windows -----------------------------------------------------------------------------

    def windows(self, batch: NoteBatch):
        """The batch's segments as this model's segments, with their masks: as they are when
        no longer than one, else cut into windows of `bars` bars starting at real bar lines,
        those without a scored frame of music dropped."""
        size = self.segment_steps
        notes, position, mask = batch.notes, batch.position, batch.mask
        if notes.shape[1] <= size:
            return notes, position, mask
        rows, spans = [], []
        downbeats = self._downbeats(position)
        for row in range(notes.shape[0]):
            for start in window_starts(downbeats[row], notes.shape[1], size):
                if mask is not None and not bool(mask[row, start : start + size].any()):
                    continue
                rows.append(row)
                spans.append(start)
        index = torch.tensor(spans, dtype=torch.long, device=notes.device)
        rows_t = torch.tensor(rows, dtype=torch.long, device=notes.device)
        steps = index[:, None] + torch.arange(size, device=notes.device)
        cut_notes = notes[rows_t[:, None], steps]
        cut_position = position[rows_t[:, None], steps]
        cut_mask = None if mask is None else mask[rows_t[:, None], steps]
        sounding = cut_notes[..., 0].flatten(1).any(-1)
        if not bool(sounding.any()):
            sounding[:1] = True  # keep one window so the batch still has a loss
        cut_mask = None if cut_mask is None else cut_mask[sounding]
        return cut_notes[sounding], cut_position[sounding], cut_mask

    def _downbeats(self, position: torch.Tensor) -> list[list[int]]:
        """Per row, the steps that start a bar (from the stored P_t, or a plain index)."""
        if position.dim() == 2:
            hits = position == 0
        else:
            hits = (position[..., 0] == 0) & (
                position[..., 1] == step_rows(self.config.steps_per_beat)
            )
        return [torch.nonzero(row).flatten().tolist() for row in hits.cpu()]

    # -- internals ---------------------------------------------------------------------------

    def _position(self, position: torch.Tensor) -> torch.Tensor:
        return position_one_hot(position, self.config.gamma)[..., 0]

    def _decode(self, previous, position, embedding, state):
        """The bar decoder over frames [N, S]: inputs [previous frame ; P_t ; c_b]."""
        n, steps = previous.shape[:2]
        inputs = torch.cat(
            [
                previous.flatten(-2),
                self._position(position),
                embedding.expand(n, steps, embedding.shape[-1]),
            ],
            dim=-1,
        )
        h, state = self.decoder(inputs, state)
        skip = None if self.pitch_skip is None else self.pitch_skip(previous)
        return self.head(self.dropout(h), skip), state

    def _rnn_state(self, rnn: nn.RNNBase, flat: torch.Tensor):
        """A recurrent state [layers, N, H] (and its cell, for an LSTM) from one vector per row."""
        c = self.config
        parts = torch.tanh(flat).reshape(flat.shape[0], -1, c.layers, c.hidden)
        parts = parts.permute(1, 2, 0, 3).contiguous()  # [1 or 2, layers, N, H]
        return (parts[0], parts[1]) if isinstance(rnn, nn.LSTM) else parts[0]

    def _noise(self, mu: torch.Tensor) -> torch.Tensor:
        """ε for the reparameterised z: torch's stream in training; a fixed seed in eval mode,
        so that the same weights always give the same validation figures."""
        if self.training:
            return torch.randn_like(mu)
        generator = torch.Generator().manual_seed(EVAL_SEED)
        return torch.randn(mu.shape, generator=generator).to(mu)


def _reshaped(distribution, rows: int, steps: int):
    """The head's distribution with its [N·bars, S, …] tensors reshaped to [N, bars·S, …]."""
    reshape = lambda t: t.reshape(rows, steps, *t.shape[2:])  # noqa: E731
    if hasattr(distribution, "output"):  # IndependentFrame
        o = distribution.output
        return type(distribution)(
            NoteOutput(
                reshape(o.pressed_logits), reshape(o.articulated_logits), reshape(o.velocity)
            )
        )
    return type(distribution)(  # NadeFrame
        distribution.head,
        reshape(distribution.visible),
        reshape(distribution.hidden),
        reshape(distribution.frame),
    )


def make_bidirectional(backbone: str, input_size: int, hidden: int, layers: int, dropout: float):
    kinds = {"lstm": nn.LSTM, "gru": nn.GRU}
    if backbone not in kinds:
        raise ValueError(f"unknown backbone {backbone!r}; choose one of {', '.join(kinds)}")
    inner = dropout if layers > 1 else 0.0
    return kinds[backbone](
        input_size, hidden, layers, batch_first=True, dropout=inner, bidirectional=True
    )


def _state_width(c: MusicVaeConfig) -> int:
    return (2 if c.backbone == "lstm" else 1) * c.layers * c.hidden


def window_starts(downbeats: list[int], steps: int, size: int) -> list[int]:
    """Starts of windows of `size` steps in a segment of `steps`: the first at step 0 (a
    segment starts on a bar line), each next at the last bar line inside the one before (as
    `mg ingest` cuts segments), while a whole window fits."""
    starts = [0]
    lines = sorted(set(downbeats))
    while True:
        end = starts[-1] + size
        inside = [d for d in lines if starts[-1] < d <= end]
        following = inside[-1] if inside else end
        if following + size > steps:
            return starts
        starts.append(following)


def active_units(mu: torch.Tensor) -> torch.Tensor:
    """Latent units whose mean varies over the batch's segments (Var > ACTIVE_VARIANCE)."""
    if len(mu) < 2:
        return torch.tensor(float("nan"))
    return (mu.float().var(0) > ACTIVE_VARIANCE).sum().float()


def frame_weight(output: VaeOutput) -> torch.Tensor:
    """[N, W] float: 1 on the frames scored (the mask; every frame without one)."""
    if output.mask is None:
        return torch.ones(output.notes.shape[:2], device=output.notes.device)
    return output.mask.to(output.notes.dtype)


def reconstruction_counts(
    decoded: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """Counts of a reconstruction [N, W, α, 3] against its target (velocity not compared), on
    the frames of `mask` [N, W] (None: all)."""
    bits = lambda t: t[..., :2] > 0.5  # noqa: E731
    got, want = bits(decoded.float()), bits(target.float())
    scored = torch.ones(got.shape[:2], dtype=torch.bool, device=got.device)
    if mask is not None:
        scored = mask.to(device=got.device, dtype=torch.bool)
    exact = (got == want).all(-1).all(-1) & scored
    onsets_got, onsets_want = got[..., 1] & scored[..., None], want[..., 1] & scored[..., None]
    hits = (onsets_got & onsets_want).sum()
    return {
        "exact_frames": exact.sum().float(),
        "note_hits": hits.float(),
        "notes_decoded": onsets_got.sum().float(),
        "notes_target": onsets_want.sum().float(),
    }


def kl_floor(config: MusicVaeConfig) -> float:
    """The free-bits floor of the KL term, nats per segment."""
    return config.latent * config.free_bits


def build(config: MusicVaeConfig) -> MusicVae:
    if config.bars < 1 or config.latent < 1:
        raise ValueError(f"music-vae needs bars ≥ 1 and latent ≥ 1, got {config}")
    if config.free_bits_over not in ("unit", "total"):
        raise ValueError(
            f"music-vae free_bits_over is 'unit' or 'total', got {config.free_bits_over!r}"
        )
    return MusicVae(config)


__all__ = ["PRESETS", "MusicVae", "MusicVaeConfig", "build", "kl_floor"]
