"""A few pieces generated from the best checkpoint at the end of a run: .mid and a piano-roll .png.

Note families sample note matrices (mg.generation.sampling); text families sample ABC tunes
(mg.generation.text_sampling), keep the .abc, and read each tune back into notes exactly as ingest
reads an ABC file. The .png needs mg.representation.plot; without it the samples are MIDI only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mg.errors import MgError
from mg.generation.sampling import SamplingOptions, generate_notes
from mg.models.saving import load_model
from mg.representation import read_bytes, write_midi
from mg.representation.grid import Grid


def write_samples(model_folder: Path, out: Path, count: int, seed: int) -> list[Path]:
    """Generate `count` pieces into `out`; returns the files written."""
    if count < 1:
        return []
    loaded = load_model(model_folder)
    grid = loaded.grid or Grid()
    out.mkdir(parents=True, exist_ok=True)
    options = SamplingOptions(steps=grid.segment_steps, num=count, seed=seed)
    if loaded.family.inputs == "text":
        return _text_samples(loaded.model, grid, options, out)
    pieces = generate_notes(loaded.model, grid, options)
    return [path for i, notes in enumerate(pieces) for path in _write(notes, grid, out, i)]


def _text_samples(model, grid: Grid, options: SamplingOptions, out: Path) -> list[Path]:
    from mg.generation.text_sampling import generate_text

    written = []
    for i, text in enumerate(generate_text(model, options)):
        abc = out / f"sample-{i:02d}.abc"
        abc.write_text(text)
        written.append(abc)
        try:
            pieces = read_bytes(text.encode(), abc.name, grid).pieces
        except MgError:
            continue  # the .abc stays; a tune the model got wrong has no MIDI
        if pieces:
            written += _write(pieces[0].notes, grid, out, i)
    return written


def _write(notes: np.ndarray, grid: Grid, out: Path, index: int) -> list[Path]:
    midi = write_midi(notes, out / f"sample-{index:02d}.mid", grid)
    png = _png(notes, grid, out / f"sample-{index:02d}.png")
    return [midi] + ([png] if png else [])


def _png(notes: np.ndarray, grid: Grid, path: Path) -> Path | None:
    try:
        from mg.representation.plot import pianoroll_png
    except ImportError:
        return None
    pianoroll_png(notes, grid, path, title=path.stem)
    return path
