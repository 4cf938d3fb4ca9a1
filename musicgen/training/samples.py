"""A few pieces generated from the best checkpoint at the end of a run: .mid and a piano-roll .png.

The model's input kind samples and writes them, as `mg generate` does: note families write MIDI,
text families the `.abc` and the MIDI of each tune that parses. The .png needs matplotlib
(mg.representation.plot); without it the samples are MIDI only.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mg.generation.generate import sample_pieces
from mg.generation.writing import Outputs
from mg.kinds import kind_of
from mg.models.saving import load_model


def write_samples(model_folder: Path, out: Path, count: int, seed: int) -> list[Path]:
    """Generate `count` pieces into `out`; returns the files written."""
    if count < 1:
        return []
    loaded = load_model(model_folder)
    sampling = kind_of(loaded.family).piece_options(loaded.grid, count, seed)
    sampled = sample_pieces(loaded, sampling)  # as `mg generate` samples
    written = sampled.write(out, lambda i: f"sample-{i:02d}", Outputs(png=_can_plot()))
    return [path for piece in written for path in piece.files]


def _can_plot() -> bool:
    return importlib.util.find_spec("matplotlib") is not None
