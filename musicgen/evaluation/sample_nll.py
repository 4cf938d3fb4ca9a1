"""The model's own likelihood of the pieces it generated, scored exactly as a split is scored.

Sampling at temperature 1 from the model's distribution gives pieces whose NLL under the model
is its entropy per frame, close to (a little below) its NLL of the data. A sampler that draws
from another distribution shows here: sharpened sampling scores far lower, and a sampler that
drifts off the model's distribution (or one whose frames the model never predicted) far higher.
The pieces pass through the trainer's own metric code (`split_sums`), with their context and
position built as ingest builds them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mg.data.notes import music_mask
from mg.models.protocol import NoteBatch, model_notes
from mg.representation.context import context_matrix
from mg.representation.grid import Grid
from mg.representation.position import position_index


def piece_batches(pieces: np.ndarray, grid: Grid, batch_size: int) -> list[NoteBatch]:
    """Pieces [K, T, α, 3] uint8 -> NoteBatches as the data loader gives them (the context
    from silence before each piece, positions from its first step, the silence after the last
    note unscored)."""
    batches = []
    for start in range(0, len(pieces), batch_size):
        chunk = pieces[start : start + batch_size]
        notes = model_notes(chunk)
        context = np.stack([context_matrix(p, grid.steps_per_beat) for p in chunk])
        position = np.stack([position_index(len(p), grid) for p in chunk]).astype(np.int64)
        notes = torch.from_numpy(notes)
        context = torch.from_numpy(context.astype(np.float32))
        batches.append(NoteBatch(notes, context, torch.from_numpy(position), music_mask(notes)))
    return batches


def sample_metrics(
    model: torch.nn.Module, kind: Any, pieces: np.ndarray, grid: Grid, batch_size: int
) -> dict[str, float]:
    """The kind's metrics (`nll_frame`, …) of the model on its own pieces; {} for kinds whose
    pieces are not the note matrices it reads (text) or when there is no piece."""
    from mg.training.data import SplitLoader
    from mg.training.distributed import Placement
    from mg.training.loop import split_sums

    if kind.name != "notes" or len(pieces) == 0:
        return {}
    batches = piece_batches(pieces, grid, batch_size)
    loader = SplitLoader(batches, lambda batch: batch, len(batches), None)
    device = next(model.parameters()).device
    totals = split_sums(model, loader, kind, Placement(device=device))
    return {k: n / d for k, (n, d) in totals.items() if k != "loss" and d}
