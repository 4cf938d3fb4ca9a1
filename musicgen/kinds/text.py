"""Text families (char-rnn): batches of ABC characters, sampled character by character, written
as `.abc` and, when a tune parses, as MIDI read back exactly as ingest reads an ABC file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from mg.errors import CorpusError, Reason
from mg.generation.sampling import SamplingOptions, one_thread_on_cpu
from mg.generation.text_sampling import generate_text
from mg.generation.writing import GeneratedPiece, Outputs, tune_notes, write_tune
from mg.representation import read_file
from mg.representation.grid import Grid

PIECE_CHARACTERS = 2048  # a tune's default length cap; a blank line ends it sooner


class TextKind:
    name = "text"
    selection_metric = "valid/loss"
    unit = "characters"

    # The training side (pyarrow, Parquet) loads when used: `mg generate` never needs it.
    @staticmethod
    def loader(*args, **kwargs):
        from mg.training.data import text_loader

        return text_loader(*args, **kwargs)

    @staticmethod
    def frames(batch) -> int:
        from mg.training.data import text_frames

        return text_frames(batch)

    @staticmethod
    def sums(*args, **kwargs):
        from mg.training.data import text_sums

        return text_sums(*args, **kwargs)

    def piece_options(self, grid: Grid, num: int, seed: int) -> SamplingOptions:
        return SamplingOptions(steps=PIECE_CHARACTERS, num=num, seed=seed)

    def read_primer(self, path: Path, grid: Grid) -> str:
        return read_text_primer(path, grid)

    def as_primer(self, value) -> str:
        return str(value)

    def sample(
        self,
        model: torch.nn.Module,
        grid: Grid,
        options: SamplingOptions,
        primer: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> list[str]:
        with one_thread_on_cpu(next(model.parameters()).device):
            return generate_text(model, options, primer)

    def strip_primer(self, pieces: list[str], primer: str) -> list[str]:
        return [strip_text_primer(text, primer) for text in pieces]

    def to_notes(self, piece: str, grid: Grid) -> np.ndarray | None:
        return tune_notes(piece, "generated.abc", grid)

    def write(self, piece: str, grid: Grid, stem: Path, outputs: Outputs) -> GeneratedPiece:
        return write_tune(piece, grid, stem, outputs)

    def parsed(self, written: list[GeneratedPiece]) -> int | None:
        return sum(piece.midi is not None for piece in written)


def read_text_primer(path: Path, grid: Grid) -> str:
    """The ABC text of the first tune of an ABC file (char-rnn primers are text)."""
    result = read_file(path, grid)
    text = result.pieces[0].abc
    if not text:
        raise CorpusError(path, Reason.ABC_NO_TUNE, "a char-rnn primer must be an ABC file")
    return text.rstrip() + "\n"


def strip_text_primer(text: str, primer: str) -> str:
    """Keep the primer's header (up to its K: line, so the tune still parses), drop its body."""
    lines = primer.splitlines(keepends=True)
    key = next((i for i, line in enumerate(lines) if line.startswith("K:")), len(lines) - 1)
    header = "".join(lines[: key + 1])
    return header + text[len(primer) :] if text.startswith(primer) else text


TEXT = TextKind()
