"""Sampling through a latent space: prior samples, variations of a primer, interpolations.

A latent family (mg.models.protocol.LatentModel, e.g. music-vae) encodes a segment to the
mean of q(z | x) and decodes a z frame by frame. Here, for every such family:

- `sample_prior`: z ~ N(0, I), one segment each (`mg generate --num K`);
- `variations`: the primer's first segment encoded, K points drawn around its mean,
  z = μ + VARIATION_SPREAD · ε (`mg generate --primer A.mid --variations K`);
- `interpolate`: two pieces encoded, `steps` points on the great circle between their means
  (spherical interpolation, as MusicVAE does: a Gaussian's mass lies near a sphere, and the
  straight line between two points passes through its unlikely centre), each decoded greedily
  (`mg interpolate`), and `side_by_side_png`, one picture of every step.

Frames are drawn with the same head sampling and controls as `mg generate`'s autoregressive
sampler (mg.generation.sampling), on a CPU generator: a seed gives the same bytes anywhere.
A greedy decode takes the likelier value of every choice (`Controls.greedy`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mg.errors import MgError
from mg.generation.controls import make_controls
from mg.generation.sampling import (
    SamplingOptions,
    _sample_frame,
    one_thread_on_cpu,
    piece_positions,
)
from mg.models.heads import Controls
from mg.models.protocol import LatentModel, NoteBatch, model_notes
from mg.representation import read_file
from mg.representation.grid import Grid
from mg.representation.meter import grid_meter
from mg.representation.position import position_codes

VARIATION_SPREAD = 0.5  # the std of a variation around the primer's mean, in prior units
GREEDY = Controls(greedy=True)


class PrimerError(MgError):
    """A primer (or an interpolation end) that a latent model cannot encode."""


@dataclass(frozen=True)
class SegmentPrimer:
    """A piece's first bars on the model's grid, with their P_t (its own meter)."""

    notes: np.ndarray  # [steps, α, 3] uint8, whole bars
    position: np.ndarray  # [steps, 3] int16
    name: str = "primer"

    def __len__(self) -> int:
        return len(self.notes)


def require_latent(model: Any, family: str, what: str) -> LatentModel:
    """The model, when it has a latent space; else one line saying what needs one."""
    if not isinstance(model, LatentModel):
        raise ValueError(f"{what} needs a latent model (music-vae); {family} has no latent space")
    return model


def read_segment_primer(path: Path, grid: Grid) -> SegmentPrimer:
    """The first tune of a MIDI/ABC/MusicXML file, in whole bars, with its own positions.
    A file that is not music is the reader's CorpusError (one line); one without notes a
    PrimerError."""
    pieces = read_file(path, grid).pieces
    if not pieces or not pieces[0].notes[..., 0].any():
        raise PrimerError(f"{path}: no notes to encode")
    piece = pieces[0]
    bars = len(piece.notes) // grid.gamma
    notes = piece.notes[: max(bars, 1) * grid.gamma]
    position = position_codes(grid_meter(piece.meter, grid), grid, len(notes))
    return SegmentPrimer(notes, position, Path(path).name)


def as_segment_primer(value: Any, grid: Grid) -> SegmentPrimer:
    notes = np.asarray(value, dtype=np.uint8)
    return SegmentPrimer(notes, piece_positions(grid, None, len(notes)))


def first_segment(model: LatentModel, primer: SegmentPrimer) -> SegmentPrimer:
    """The primer's first `segment_steps` steps; a shorter primer is refused in one line."""
    size = model.segment_steps
    if len(primer) < size or not primer.notes[:size, :, 0].any():
        bars = model.config.bars
        have = len(primer) / model.config.bar_steps
        raise PrimerError(
            f"{primer.name}: {have:g} bar(s) of music; a {bars}-bar model encodes {bars} "
            "whole bars (give a longer piece)"
        )
    return SegmentPrimer(primer.notes[:size], primer.position[:size], primer.name)


@torch.no_grad()
def encode_mean(model: LatentModel, segments: list[SegmentPrimer]) -> torch.Tensor:
    """The mean of q(z | x) of each segment [n, latent] (on the model's device)."""
    device = next(model.parameters()).device
    notes = torch.from_numpy(np.stack([model_notes(s.notes) for s in segments])).to(device)
    position = torch.from_numpy(np.stack([s.position for s in segments]).astype(np.int64))
    mu, _ = model.encode(NoteBatch(notes, notes, position.to(device)))
    return mu


@torch.no_grad()
def decode(
    model: LatentModel,
    z: torch.Tensor,
    position: torch.Tensor | np.ndarray,
    controls: Controls,
    generator: torch.Generator,
) -> np.ndarray:
    """Frames of one segment per row of z [n, latent] → uint8 [n, W, α, 3]; `position` is the
    P_t of the W frames, [W, 3] (shared) or [n, W, …]."""
    position = torch.as_tensor(
        np.asarray(position) if isinstance(position, np.ndarray) else position
    )
    rows = len(z)
    if position.dim() == 2 and position.shape[-1] == 3:  # [W, 3] shared by every row
        position = position.unsqueeze(0).expand(rows, *position.shape)
    position = position.long()
    steps = position.shape[1]
    device = z.device
    alpha = model.config.alpha
    previous = np.zeros((rows, alpha, 3), dtype=np.uint8)
    frames = []
    with one_thread_on_cpu(device):
        state = model.decoder_state(z)
        for t in range(steps):
            fed = torch.from_numpy(model_notes(previous))[:, None].to(device)
            batch = NoteBatch(fed, fed, position[:, t : t + 1].to(device))
            distribution, state = model.decode_step(state, batch)
            previous = _sample_frame(distribution, previous, controls, generator)
            frames.append(previous)
    return np.stack(frames, axis=1)


def decode_greedy(model: LatentModel, z: torch.Tensor, position) -> np.ndarray:
    """The likeliest choice at every step (no randomness is drawn that matters)."""
    return decode(model, z, position, GREEDY, torch.Generator().manual_seed(0))


def sampling_controls(grid: Grid, options: SamplingOptions) -> Controls:
    return make_controls(
        grid, options.temperature, options.top_p, options.key, options.pitch_range,
        options.max_polyphony,
    )  # fmt: skip


def sample_prior(model: LatentModel, grid: Grid, options: SamplingOptions) -> np.ndarray:
    """`options.num` segments decoded from z ~ N(0, I) (seeded) → [num, W, α, 3]."""
    generator = torch.Generator().manual_seed(options.seed)
    z = torch.randn(options.num, model.latent_size, generator=generator)
    device = next(model.parameters()).device
    position = piece_positions(grid, options.meter, model.segment_steps)
    return decode(model, z.to(device), position, sampling_controls(grid, options), generator)


def variations(
    model: LatentModel, grid: Grid, options: SamplingOptions, primer: SegmentPrimer
) -> np.ndarray:
    """`options.num` segments decoded around the primer's first segment (see the docstring)."""
    segment = first_segment(model, primer)
    mu = encode_mean(model, [segment])
    generator = torch.Generator().manual_seed(options.seed)
    noise = torch.randn(options.num, model.latent_size, generator=generator).to(mu)
    z = mu + VARIATION_SPREAD * noise
    return decode(model, z, segment.position, sampling_controls(grid, options), generator)


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation from a (t = 0) to b (t = 1); linear when they are parallel."""
    cosine = torch.dot(a / a.norm().clamp_min(1e-12), b / b.norm().clamp_min(1e-12))
    omega = torch.arccos(cosine.clamp(-1.0, 1.0))
    if float(omega) < 1e-4:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def interpolate(
    model: LatentModel, a: SegmentPrimer, b: SegmentPrimer, steps: int
) -> tuple[np.ndarray, torch.Tensor]:
    """Greedy decodes of `steps` points from a's mean to b's (ends included) → pieces
    [steps, W, α, 3] and the points [steps, latent]. Positions: a's, then b's from halfway."""
    if steps < 2:
        raise ValueError(f"--steps must be at least 2 (the two ends), got {steps}")
    ends = [first_segment(model, a), first_segment(model, b)]
    mu = encode_mean(model, ends)
    points = torch.stack([slerp(mu[0], mu[1], i / (steps - 1)) for i in range(steps)])
    position = np.stack([ends[0 if i / (steps - 1) < 0.5 else 1].position for i in range(steps)])
    return decode_greedy(model, points, torch.from_numpy(position.astype(np.int64))), points


def side_by_side_png(pieces: np.ndarray, grid: Grid, path: Path, titles: list[str]) -> Path:
    """Every piece [steps, W, α, 3] as a piano roll, left to right on one shared pitch axis."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    pressed = pieces[..., 0] > 0
    sounding = np.flatnonzero(pressed.any(axis=(0, 1)))
    low, high = (int(sounding[0]) - 2, int(sounding[-1]) + 2) if len(sounding) else (30, 50)
    low, high = max(low, 0), min(high, grid.alpha - 1)
    count, steps = len(pieces), pieces.shape[1]
    fig = Figure(figsize=(2.4 * count + 1, max(3.0, (high - low) / 7)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, count, sharey=True, squeeze=False)[0]
    for ax, piece, title in zip(axes, pieces, titles, strict=True):
        roll = np.where(piece[:, low : high + 1, 0] > 0, 1.0, np.nan).T
        ax.imshow(
            roll, origin="lower", aspect="auto", cmap="Blues", vmin=0, vmax=1.2,
            extent=(0, steps, low - 0.5, high + 0.5), interpolation="nearest",
        )  # fmt: skip
        onsets = np.argwhere(piece[:, low : high + 1, 1] > 0)
        for t, p in onsets:
            ax.plot([t, t], [low + p - 0.45, low + p + 0.45], color="white", linewidth=1)
        for beat in range(0, steps + 1, grid.steps_per_beat):  # nominal bars and beats
            bar = beat % grid.gamma == 0
            ax.axvline(beat, color="grey", linewidth=0.8 if bar else 0.3, alpha=1 if bar else 0.5)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
    ticks = [p for p in range(low, high + 1) if (p + grid.low) % 12 == 0]
    axes[0].set_yticks(ticks, [f"C{(p + grid.low) // 12 - 1}" for p in ticks])
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


@dataclass(frozen=True)
class Interpolation:
    uri: str
    family: str
    midi: list[Path]  # one per point, from a (0) to b
    png: Path
    points: int


def interpolate_files(
    uri: str, a: Path, b: Path, steps: int, out: Path, tracking_uri: str | None = None
) -> Interpolation:
    """`mg interpolate`: the model `uri` names, two files' first segments, `steps` points
    between them, a MIDI file per point and one PNG of them all side by side in `out`."""
    from mg.generation.writing import Outputs, write_notes
    from mg.tracking.model_uri import open_model

    if steps < 2:
        raise ValueError(f"--steps must be at least 2 (the two ends), got {steps}")
    loaded, source = open_model(uri, tracking_uri)
    model = require_latent(loaded.model, loaded.family.name, "mg interpolate")
    grid = loaded.grid
    ends = [read_segment_primer(path, grid) for path in (a, b)]
    pieces, _ = interpolate(model, ends[0], ends[1], steps)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{source.name}-{Path(a).stem}-{Path(b).stem}"
    outputs = Outputs(png=False, wav=False)
    midi = [
        write_notes(piece, grid, out / f"{stem}-{i:02d}", outputs).midi
        for i, piece in enumerate(pieces)
    ]
    titles = [f"{i / (steps - 1):.2f}" for i in range(steps)]
    titles[0], titles[-1] = f"0 ({Path(a).stem})", f"1 ({Path(b).stem})"
    png = side_by_side_png(pieces, grid, out / f"{stem}.png", titles)
    return Interpolation(source.uri, loaded.family.name, midi, png, steps)
