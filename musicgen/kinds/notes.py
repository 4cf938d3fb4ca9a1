"""Note families: batches of note matrices, sampled frame by frame, written as MIDI."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mg.generation.sampling import SamplingOptions, generate_notes
from mg.generation.writing import GeneratedPiece, Outputs, write_notes
from mg.representation import read_file
from mg.representation.grid import Grid


class NoteKind:
    name = "notes"
    selection_metric = "valid/nll_frame"
    unit = "steps"

    # The training side (pyarrow, Parquet) loads when used: `mg generate` never needs it.
    @staticmethod
    def loader(*args, **kwargs):
        from mg.training.data import note_loader

        return note_loader(*args, **kwargs)

    @staticmethod
    def frames(batch) -> int:
        from mg.training.data import note_frames

        return note_frames(batch)

    @staticmethod
    def sums(*args, **kwargs):
        from mg.training.data import note_sums

        return note_sums(*args, **kwargs)

    sample = staticmethod(generate_notes)  # pieces [num, frames, α, 3] uint8, in one batch

    def piece_options(self, grid: Grid, num: int, seed: int) -> SamplingOptions:
        return SamplingOptions(steps=grid.segment_steps, num=num, seed=seed)

    def read_primer(self, path: Path, grid: Grid) -> np.ndarray:
        return read_primer(path, grid)

    def as_primer(self, value) -> np.ndarray:
        return np.asarray(value, dtype=np.uint8)

    def strip_primer(self, pieces: np.ndarray, primer: np.ndarray) -> np.ndarray:
        return pieces[:, len(primer) :]

    def to_notes(self, piece: np.ndarray, grid: Grid) -> np.ndarray:
        return piece

    def write(self, piece: np.ndarray, grid: Grid, stem: Path, outputs: Outputs) -> GeneratedPiece:
        return write_notes(piece, grid, stem, outputs)

    def parsed(self, written: list[GeneratedPiece]) -> int | None:
        return None


def read_primer(path: Path, grid: Grid) -> np.ndarray:
    """The first tune of a MIDI/ABC/MusicXML file on the model's grid, in whole bars.

    Whole bars keep the continuation (and the output without the primer) on the bar grid: a
    trailing partial bar is dropped, and a primer shorter than a bar is padded with silence.
    """
    result = read_file(path, grid)
    notes = result.pieces[0].notes
    bars = max(1, len(notes) // grid.gamma)
    whole = np.zeros((bars * grid.gamma,) + notes.shape[1:], dtype=np.uint8)
    kept = min(len(notes), len(whole))
    whole[:kept] = notes[:kept]
    return whole


NOTES = NoteKind()
