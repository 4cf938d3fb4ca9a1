"""The benchmark's data side for the trainer: whole pieces and the published metric.

Training sees whole pieces (grouped by length, padded, masked), each transposed by a random
shift in −k…+k semitones every epoch, or those groups cut into chunks along time (`chunk`:
truncated back-propagation with the state carried, mg.evaluation.polyphonic.chunks);
validation sees the published pieces as they are, scored with the published metric
(`nll.logits_nll`, in float64), so the trainer's
`valid/nll_frame` is the figure the benchmark chooses its epoch on. One numpy generator, seeded
once, draws the batches and the shifts epoch after epoch, as the protocol always has.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from mg.evaluation.polyphonic.chunks import ChunkBatch, chunk_steps, split_chunks
from mg.evaluation.polyphonic.conversion import (
    allowed_shifts,
    collate,
    length_batches,
    piece_arrays,
)
from mg.evaluation.polyphonic.nll import batch_nll
from mg.models.protocol import NoteBatch
from mg.representation.grid import Grid
from mg.representation.transpose import shift_pitches

VALID_FRAMES_PER_BATCH = 4096  # evaluation batches: no gradients, so larger


class PieceLoader:
    """Batches of whole pieces for one process: `batches` per epoch, `epoch(n)` yields them;
    with `chunk`, each batch's group of pieces as chunks of that many frames (`batches` is
    then the chunks of the unshuffled grouping, an estimate), each holding about
    `frames_per_batch` real frames."""

    def __init__(
        self,
        rolls: list[np.ndarray],
        grid: Grid,
        frames_per_batch: int,
        transpose: int = 0,
        rng: np.random.Generator | None = None,
        rank: int = 0,
        world: int = 1,
        chunk: int = 0,
    ) -> None:
        self.rolls, self.grid, self.frames_per_batch = rolls, grid, frames_per_batch
        self.transpose, self.rng, self.rank, self.world = transpose, rng, rank, world
        self.chunk = chunk
        self.prepared = None if rng is not None else [piece_arrays(r, grid) for r in rolls]
        # batches group by length: the roll's for training (as the protocol always did), the
        # converted piece's (with its silent first frame) for evaluation
        self.lengths = [len(roll) + (rng is None) for roll in rolls]
        groups = length_batches(self.lengths, frames_per_batch, None, chunk)[rank::world]
        self.batches = (
            sum(chunk_steps(max(self.lengths[i] for i in g), chunk) for g in groups)
            if chunk
            else len(groups)
        )

    def epoch(self, epoch: int) -> Iterator[NoteBatch]:
        for indices in length_batches(self.lengths, self.frames_per_batch, self.rng, self.chunk)[
            self.rank :: self.world
        ]:
            batch = collate([self._piece(i) for i in indices])
            if self.chunk:
                yield from split_chunks(batch, self.chunk)
            else:
                yield batch

    def _piece(self, index: int) -> dict[str, np.ndarray]:
        if self.prepared is not None:
            return self.prepared[index]
        roll = self.rolls[index]
        if self.transpose > 0:
            roll = shift_pitches(roll, int(self.rng.choice(allowed_shifts(roll, self.transpose))))
        return piece_arrays(roll, self.grid)


class PieceScoring:
    """What the trainer needs of an input kind to train and validate on pieces."""

    name = "pieces"
    selection_metric = "valid/nll_frame"

    @staticmethod
    def frames(batch: NoteBatch) -> int:
        """A whole piece counts its frames and the silent one; a chunk, the frames it scores."""
        return int((batch.mask[:, 1:] if isinstance(batch, ChunkBatch) else batch.mask).sum())

    @staticmethod
    def sums(batch: NoteBatch, output, loss, parts) -> dict[str, tuple[float, float]]:
        nll = batch_nll(batch, output)
        return {
            "loss": (float(loss) * nll.frames, nll.frames),
            "nll_frame": (nll.total, nll.frames),
        }


PIECES = PieceScoring()
