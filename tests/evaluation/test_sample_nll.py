"""The model's NLL of its own pieces is scored exactly as a split is: pieces built from their
note matrices alone score what the stored segments (context and position from ingest) score."""

from __future__ import annotations

import math

import numpy as np
import pyarrow.parquet as pq
import pytest

from mg.data.notes import Dataset
from mg.data.schema import table_arrays
from mg.evaluation.evaluate import EvaluateOptions, evaluate, evaluation_metrics, format_table
from mg.evaluation.sample_nll import piece_batches, sample_metrics
from mg.kinds import kind_of
from mg.models.protocol import NoteBatch
from mg.models.saving import load_model
from mg.training.data import SplitLoader
from mg.training.distributed import Placement
from mg.training.loop import split_sums
from tests.fixtures.generation import GRID


def first_segments(dataset) -> dict[str, np.ndarray]:
    """The stored rows of the segments that open their tune (their context starts in silence)."""
    rows = []
    for split in ("train", "valid", "test"):
        for shard in Dataset.open(dataset).shards(split):
            arrays = table_arrays(pq.read_table(shard))
            opening = pq.read_table(shard, columns=["segment"]).column(0).to_numpy() == 0
            rows.append({k: v[opening] for k, v in arrays.items()})
    return {k: np.concatenate([r[k] for r in rows]) for k in ("notes", "context", "position")}


def test_pieces_are_built_as_ingest_builds_them(tiny_model):
    stored = first_segments(tiny_model[0])
    batch = piece_batches(stored["notes"][:5], GRID, batch_size=8)[0]
    assert np.array_equal(batch.context.numpy(), stored["context"][:5].astype(np.float32))
    assert np.array_equal(batch.position.numpy(), stored["position"][:5].astype(np.int64))


def test_a_piece_scores_what_its_stored_segment_scores(tiny_model):
    dataset, folder = tiny_model
    loaded = load_model(folder)
    kind = kind_of(loaded.family)
    stored = first_segments(dataset)
    notes = stored["notes"].astype(np.float32)
    notes[..., 2] /= 127.0
    import torch

    batches = [
        NoteBatch(
            torch.from_numpy(notes),
            torch.from_numpy(stored["context"].astype(np.float32)),
            torch.from_numpy(stored["position"].astype(np.int64)),
        )
    ]
    loader = SplitLoader(batches, lambda batch: batch, 1, None)
    totals = split_sums(loaded.model, loader, kind, Placement(device=torch.device("cpu")))
    own = sample_metrics(loaded.model, kind, stored["notes"], GRID, batch_size=3)
    assert set(own) == {k for k in totals if k != "loss"}
    for name, (numerator, denominator) in totals.items():
        if name != "loss":
            assert own[name] == pytest.approx(numerator / denominator, rel=1e-5), name


def test_evaluate_reports_and_logs_the_nll_of_its_samples(tiny_model):
    result = evaluate(str(tiny_model[1]), str(tiny_model[0]), EvaluateOptions("test", num=2))
    assert set(result.generated_metrics) == set(result.metrics)
    assert all(math.isfinite(v) and v >= 0 for v in result.generated_metrics.values())
    logged = evaluation_metrics(result)
    assert logged["eval/generated/nll_frame"] == result.generated_metrics["nll_frame"]
    assert "of its samples (2)" in format_table(result)
