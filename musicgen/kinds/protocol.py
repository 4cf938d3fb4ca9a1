"""The protocol an input kind implements (see `mg.kinds`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import torch

from mg.generation.sampling import SamplingOptions
from mg.generation.writing import GeneratedPiece, Outputs
from mg.representation.grid import Grid

if TYPE_CHECKING:  # the data side (pyarrow) loads for training, never for `mg generate`
    from mg.data.notes import Dataset

Sums = dict[str, tuple[float, float]]  # metric -> (numerator, denominator); mg.training.data's


class InputKind(Protocol):
    name: str
    selection_metric: str  # lower is better; early stopping and `champion` follow it
    unit: str  # what a primer's length counts: "steps" or "characters"

    def loader(
        self, dataset: Dataset, split: str, config: Any, rank: int, world: int, pin: bool
    ) -> Any:
        """A `SplitLoader` of the split's batches for one process."""

    def frames(self, batch: Any) -> int:
        """Time steps in a batch (throughput)."""

    def sums(self, batch: Any, output: Any, loss: torch.Tensor, parts: dict) -> Sums:
        """The validation metrics of one batch as (numerator, denominator) pairs."""

    def piece_options(self, grid: Grid, num: int, seed: int) -> SamplingOptions:
        """Sampling options for `num` pieces of one segment each (the default length)."""

    def read_primer(self, path: Path, grid: Grid) -> Any:
        """A primer file as this kind's input (note matrices, ABC text)."""

    def as_primer(self, value: Any) -> Any:
        """A primer given as a value (the pyfunc model's input)."""

    def sample(
        self,
        model: torch.nn.Module,
        grid: Grid,
        options: SamplingOptions,
        primer: Any = None,
        progress: Callable[[int], None] | None = None,
    ) -> Any:
        """`options.num` pieces at once (a uint8 array [num, frames, α, 3], or a list of str)."""

    def strip_primer(self, pieces: Any, primer: Any) -> Any:
        """The pieces without the primer they continue."""

    def to_notes(self, piece: Any, grid: Grid) -> Any:
        """One piece as note matrices [frames, α, 3] uint8, or None when it has no music."""

    def write(self, piece: Any, grid: Grid, stem: Path, outputs: Outputs) -> GeneratedPiece:
        """The piece's files, named `stem` + their suffix."""

    def parsed(self, written: list[GeneratedPiece]) -> int | None:
        """How many written pieces hold music, for kinds where that can fail (else None)."""
