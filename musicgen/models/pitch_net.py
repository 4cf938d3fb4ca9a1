"""The pitch network: each pitch's outputs from what surrounds that pitch, one map for all pitches.

A note family's time axis (an RNN, attention) compresses the 88 pitches of a frame into one
vector, and its output layer then has to learn every musical fact once per pitch: that a pitch
a step above the one sounding is likely next, that a held note is rarely re-struck mid-beat,
that the pitch classes of the last bars are the ones of the key. The pitch network learns each
such fact once, for every pitch at the same time (the inputs are relative to the pitch, so what
it learns holds in every key, as in Johnson's biaxial model, 2015):

- **vicinity**: N_t and C_t (pressed, articulated, velocity; the ε-step context) of the pitches
  `window` semitones below to `window` above, one convolution over the pitch axis;
- **key memory**: a running profile of the pitch classes sounded so far, at two time scales
  (half-lives of 16 and 64 frames: one and four 4/4 bars at 4 steps per quarter), read
  relative to the pitch (the profile's weight of the pitch's own class, of the class a semitone
  up, …): what a musician calls "is this note in the key";
- **time**: the family's features at t (its bar position and everything it remembers), projected
  and shared by every pitch.

Their sum goes through one ReLU layer of `units` to three numbers per pitch: biases added to the
head's pressed, articulated and velocity logits (mg.models.heads' `pitch_bias`). `window` 0 is
the earlier per-pitch skip, one linear map from the pitch's own [N_t; C_t] (6 numbers) to its
three outputs.

The key memory is a recurrence (m_t = λ·m_{t-1} + pitch classes of N_t): `forward` computes it
over a whole sequence with one product by the triangular matrix of λ powers, `step` carries it
in the family's state, so sampling sees exactly what training saw.
"""

from __future__ import annotations

import torch
from torch import nn

HALF_LIVES = (16.0, 64.0)  # frames: the two time scales of the key memory
PITCH_CLASSES = 12


class PitchNet(nn.Module):
    """[N_t; C_t] per pitch, the family's features at t, the key memory → pitch biases [.., α, 3]."""

    def __init__(self, features: int, alpha: int, window: int, units: int) -> None:
        super().__init__()
        self.alpha, self.window = alpha, window
        if window == 0:
            self.own = nn.Linear(6, 3)
            return
        # The constant buffers are computed on the CPU even when the model is built on the meta
        # device for its shapes (mg.models.checks.shapes_only): the same values, and no meta
        # kernels, whose first use imports torch's compiler stack (seconds of `mg generate`).
        scales = torch.tensor(HALF_LIVES, device="cpu")
        self.register_buffer("decay", 0.5 ** (1.0 / scales), persistent=False)
        self.vicinity = nn.Conv1d(6, units, 2 * window + 1, padding=window)
        self.memory = nn.Linear(PITCH_CLASSES * len(HALF_LIVES), units, bias=False)
        self.time = nn.Linear(features, units, bias=False)
        self.out = nn.Linear(units, 3)
        classes = torch.arange(PITCH_CLASSES, device="cpu")[None]
        pitch = torch.arange(alpha, device="cpu")[:, None] + classes
        self.register_buffer("relative", pitch % PITCH_CLASSES, persistent=False)  # [α, 12]

    def initial_memory(self, batch_size: int, like: torch.Tensor) -> torch.Tensor | None:
        """The key memory before the first frame: no pitch class heard, [B, scales, 12]."""
        if self.window == 0:
            return None
        return like.new_zeros(batch_size, len(HALF_LIVES), PITCH_CLASSES, dtype=torch.float64)

    def forward(
        self,
        notes: torch.Tensor,
        context: torch.Tensor,
        features: torch.Tensor,
        memory: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """notes, context [B, T, α, 3], features [B, T, F], memory [B, scales, 12] (None: empty)
        -> (pitch biases [B, T, α, 3], the memory after frame T-1)."""
        own = torch.cat([notes, context], dim=-1)  # [B, T, α, 6]
        if self.window == 0:
            return self.own(own), None
        batch, steps, alpha, _ = own.shape
        vicinity = self.vicinity(own.reshape(batch * steps, alpha, 6).transpose(1, 2))
        vicinity = vicinity.transpose(1, 2).reshape(batch, steps, alpha, -1)
        profile, memory = self._key_memory(notes[..., 0], memory)  # [B, T, scales, 12]
        relative = profile[..., self.relative]  # [B, T, scales, α, 12]: class of d, d+1, …
        relative = relative.permute(0, 1, 3, 2, 4).flatten(-2)  # [B, T, α, scales·12]
        hidden = vicinity + self.memory(relative) + self.time(features).unsqueeze(-2)
        return self.out(torch.relu(hidden)), memory

    def _key_memory(
        self, pressed: torch.Tensor, memory: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The pitch-class profile after each frame, [B, T, scales, 12] (each scale's counts over
        their total, or over 1 while fewer than one note's worth is remembered), and the raw
        counts after the last frame. Counted in float64, so that the product over a sequence
        and the step-by-step recurrence agree to the last float32 bit that matters."""
        batch, steps, alpha = pressed.shape
        padded = nn.functional.pad(pressed.double(), (0, -alpha % PITCH_CLASSES))
        classes = padded.reshape(batch, steps, -1, PITCH_CLASSES).sum(-2)  # [B, T, 12]
        decay = self.decay.double()  # [scales]
        if steps == 1:
            counts = classes.unsqueeze(-2).expand(-1, -1, len(decay), -1)  # [B, 1, scales, 12]
        else:
            t = torch.arange(steps, device=pressed.device)
            back = t[:, None] - t[None, :]  # [T, T]: how far frame s lies behind frame t
            powers = torch.where(back >= 0, decay[:, None, None] ** back.clamp_min(0), 0.0)
            counts = torch.einsum("jts,bsc->btjc", powers, classes)
        if memory is not None:
            ages = torch.arange(1, steps + 1, device=pressed.device)
            carried = decay[None, :] ** ages[:, None]  # [T, scales]
            counts = counts + carried[..., None] * memory.double().unsqueeze(1)
        total = counts.sum(-1, keepdim=True).clamp_min(1.0)
        return (counts / total).to(pressed.dtype), counts[:, -1]
