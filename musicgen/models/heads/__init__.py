"""Output heads of the note families: hidden features → a distribution over the next frame.

The head API, small on purpose so that every note family (recurrent, Transformer, VAE, …) can
end in one:

    head = build_head(name, hidden=H, alpha=α, units=K)     # an nn.Module
    distribution = head(features, pitch_bias=None)          # features [B, T, H]
                                                            # pitch_bias [B, T, α, 3] or None:
                                                            # added to each pitch's pressed,
                                                            # articulated and velocity logits
    head.set_pressed_prior(log_odds)                        # optional start: per-pitch log-odds [α]

`distribution` is a `FrameDistribution` (mg.models.heads.distribution): `log_prob(frame)`,
`conditionals(frame)` (what the loss scores), `time_slice(steps)` and
`sample(generator, controls)`. A family returns it from `forward` and `step`, and its `loss` is
`mg.models.layers.note_loss(batch, distribution)`.

Heads: `independent` (88 Bernoullis, the original model) and `nade` (the pitches of a frame
depend on each other; the default, it measures better: see README).
"""

from __future__ import annotations

from torch import nn

from mg.models.heads.distribution import Controls, FrameDistribution, NoteSample
from mg.models.heads.independent import IndependentHead
from mg.models.heads.nade import NadeHead

HEADS: dict[str, type[nn.Module]] = {"independent": IndependentHead, "nade": NadeHead}
DEFAULT_HEAD = "nade"


def build_head(name: str, hidden: int, alpha: int, units: int) -> nn.Module:
    """The head called `name` on features of size `hidden`; `units` is NADE's K."""
    if name not in HEADS:
        raise ValueError(f"unknown head {name!r}; choose one of {', '.join(HEADS)}")
    return HEADS[name](hidden, alpha, units)


__all__ = [
    "DEFAULT_HEAD",
    "HEADS",
    "Controls",
    "FrameDistribution",
    "NoteSample",
    "build_head",
]
