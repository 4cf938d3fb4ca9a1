"""Latent segment families (music-vae): the note matrices of whole segments, scored by the ELBO
and sampled through a latent z (mg.generation.latent).

Loading, throughput and writing are the note kind's; what differs:

- validation scores a bound: `elbo` (nats per frame, the reconstruction NLL of pressed and
  articulated plus KL / frames: −ELBO, an upper bound on the NLL, lower is better, the selection
  metric), `nll_frame` and `nll_articulation` given z (not comparable with an autoregressive
  family's NLL), `kl` (nats per segment), `active_units` (units whose mean varies over a batch's
  segments, averaged over batches), and from a greedy decode of each segment's mean
  `recon_exact` (share of frames whose pressed and articulated pitches are all right) and
  `note_f1` (notes: a pitch articulated at a step);
- sampling without a primer decodes z ~ N(0, I), one segment per piece; with a primer it
  encodes the primer's first segment and decodes `num` variations around it (the primer is
  not part of the output);
- a primer is read with its own meter, and refused in one line when shorter than a segment.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from mg.generation import latent
from mg.generation.sampling import SamplingOptions
from mg.generation.writing import GeneratedPiece, Outputs
from mg.kinds.notes import NOTES
from mg.kinds.protocol import Sums
from mg.representation.grid import Grid


class SegmentKind:
    name = "segments"
    selection_metric = "valid/elbo"
    unit = "steps"

    loader = staticmethod(NOTES.loader)
    frames = staticmethod(NOTES.frames)

    @staticmethod
    def sums(batch, output, loss, parts) -> Sums:
        frames = float(parts["frames"])
        segments = float(parts["segments"])
        sums = {
            "loss": (float(loss) * frames, frames),
            "elbo": (float(parts["elbo"]) * frames, frames),
            "nll_frame": (float(parts["nll_pressed"]) * frames, frames),
            "nll_articulation": (float(parts["nll_articulated"]) * frames, frames),
            "kl": (float(parts["kl"]) * segments, segments),
        }
        if np.isfinite(float(parts["active_units"])):
            sums["active_units"] = (float(parts["active_units"]), 1.0)
        if "exact_frames" in parts:
            hits = float(parts["note_hits"])
            both = float(parts["notes_decoded"]) + float(parts["notes_target"])
            sums["recon_exact"] = (float(parts["exact_frames"]), frames)
            sums["note_f1"] = (2 * hits, both)
        return sums

    def piece_options(self, grid: Grid, num: int, seed: int) -> SamplingOptions:
        return SamplingOptions(steps=grid.segment_steps, num=num, seed=seed)

    def read_primer(self, path: Path, grid: Grid) -> latent.SegmentPrimer:
        return latent.read_segment_primer(path, grid)

    def as_primer(self, value) -> latent.SegmentPrimer:
        return latent.as_segment_primer(value, Grid())

    @staticmethod
    @torch.no_grad()
    def sample(
        model: torch.nn.Module,
        grid: Grid,
        options: SamplingOptions,
        primer: latent.SegmentPrimer | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """`options.num` segments: prior samples, or variations of the primer."""
        vae = latent.require_latent(model, type(model).__name__, "sampling segments")
        if options.num < 1 or options.temperature <= 0 or not 0 < options.top_p <= 1:
            raise ValueError(f"invalid sampling options: {options}")
        if primer is None:
            pieces = latent.sample_prior(vae, grid, options)
        else:
            pieces = latent.variations(vae, grid, options, primer)
        if progress is not None:
            progress(pieces.shape[1])
        return pieces

    def strip_primer(self, pieces: np.ndarray, primer) -> np.ndarray:
        return pieces  # variations never contain their primer

    to_notes = staticmethod(NOTES.to_notes)

    def write(self, piece: np.ndarray, grid: Grid, stem: Path, outputs: Outputs) -> GeneratedPiece:
        return NOTES.write(piece, grid, stem, outputs)

    def parsed(self, written: list[GeneratedPiece]) -> int | None:
        return None


SEGMENTS = SegmentKind()
