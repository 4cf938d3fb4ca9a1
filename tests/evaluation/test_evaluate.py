"""`mg.evaluation.evaluate` and `mg.evaluation.music_stats` on folk tunes (tests/fixtures/generation.py)."""

from __future__ import annotations

import math

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from mlflow import MlflowClient
from torch.nn import functional as F

from mg.data.notes import Dataset
from mg.data.schema import table_arrays
from mg.evaluation.evaluate import (
    EvaluateOptions,
    evaluate,
    evaluation_metrics,
    format_table,
    generated_pieces,
    log_evaluation,
    sampling_note,
    split_metrics,
    split_segments,
)
from mg.evaluation.music_stats import STATS, longest_common_runs, pack_pressed, piece_stats
from mg.models.protocol import NoteBatch
from mg.models.saving import load_model
from tests.fixtures.generation import GRID


@pytest.fixture(scope="module")
def built(tiny_model):
    return tiny_model


@pytest.fixture(scope="module")
def store(model_store):
    return model_store


def reference_nll(folder, dataset, split) -> float:
    """The published metric written out by hand: Bernoulli NLL of the pressed column summed
    over pitches, averaged over every predicted frame of every segment from its first note to the
    release of its
    last note (the silence before its first note and after that is not scored; float64)."""
    model = load_model(folder).model
    total, frames = 0.0, 0
    for shard in Dataset.open(dataset).shards(split):
        arrays = table_arrays(pq.read_table(shard))  # the stored context, as training reads it
        for notes, context, position in zip(
            arrays["notes"], arrays["context"], arrays["position"], strict=True
        ):
            values = notes.astype(np.float32)
            values[..., 2] /= 127.0
            batch = NoteBatch(
                torch.from_numpy(values)[None],
                torch.from_numpy(context.astype(np.float32))[None],
                torch.from_numpy(position.astype(np.int64))[None],
            )
            with torch.no_grad():  # each pitch's conditional given the true frame (any head)
                distribution = model(batch).time_slice(slice(None, -1))
                logits = distribution.conditionals(batch.notes[:, 1:]).pressed_logits[0].double()
            target = torch.from_numpy(notes[1:, :, 0] > 0).double()
            first, stop = scored_targets(notes)
            nll = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
            total += float(nll[first - 1 : stop - 1].sum())  # row i predicts frame i + 1
            frames += stop - first
    return total / frames


def scored_targets(notes: np.ndarray) -> tuple[int, int]:
    """The frames of a segment that are scored as targets, [first, stop): from its first
    sounding frame (frame 0 is never a target) to the one after its last."""
    sounding = np.flatnonzero(notes[..., 0].any(-1))
    return max(1, int(sounding.min())), min(len(notes), int(sounding.max()) + 2)


def scored_frames(dataset, split) -> int:
    return sum(
        stop - first
        for shard in Dataset.open(dataset).shards(split)
        for notes in table_arrays(pq.read_table(shard))["notes"]
        for first, stop in [scored_targets(notes)]
    )


@pytest.fixture(scope="module")
def evaluation(built, store):
    """The registered model evaluated on the test split through its run's URI."""
    options = EvaluateOptions("test", num=3, seed=1, tracking_uri=store.uri)
    return evaluate(f"runs:/{store.run_id}/model", str(built[0]), options)


def test_nll_is_the_mean_over_every_frame_of_the_split(built):
    dataset, folder = built
    loaded = load_model(folder)
    expected = reference_nll(folder, dataset, "test")
    segments = Dataset.open(dataset).segments("test")
    assert segments > 4  # batches of 4 leave a short last batch: frames weigh, not batches
    for batch_size in (1, 4):
        metrics, frames = split_metrics(loaded, Dataset.open(dataset), "test", batch_size)
        assert metrics["nll_frame"] == pytest.approx(expected, rel=1e-5)
        assert frames == scored_frames(dataset, "test") < segments * (GRID.segment_steps - 1)
        assert set(metrics) == {"nll_frame", "nll_articulation", "velocity_mae"}
        assert all(math.isfinite(v) for v in metrics.values())


def test_the_nll_matches_the_trainers_valid_metric(built, store):
    result = evaluate(
        f"models:/{store.name}@champion",
        str(built[0]),
        EvaluateOptions("valid", num=2, tracking_uri=store.uri),
    )
    for name in ("nll_frame", "nll_articulation", "velocity_mae"):
        assert result.metrics[name] == pytest.approx(store.valid[f"valid/{name}"], rel=1e-5)


def test_statistics_and_copy_check_of_generated_pieces_and_the_split(evaluation, built):
    dataset = Dataset.open(built[0])
    test_segments, train_segments = dataset.segments("test"), dataset.segments("train")
    assert evaluation.generated_pieces == 3 and evaluation.reference_segments == test_segments
    assert set(evaluation.generated) == set(evaluation.reference) == set(STATS)
    assert all(math.isfinite(v) for v in evaluation.reference.values())
    assert 0 < evaluation.reference["scale_consistency"] <= 1
    assert len(evaluation.copy.generated) == 3
    assert evaluation.copy.corpus_segments == train_segments
    assert evaluation.targets == scored_frames(built[0], "test")
    table = format_table(evaluation)
    assert "nll_frame" in table and "pitch_class_entropy" in table
    # the copy check says what its numbers are, and what a whole copied piece would read
    longest = [line.split() for line in table.splitlines() if line.startswith("copied steps")]
    assert [row[:3] for row in longest] == [
        ["copied", "steps,", "max"],
        ["copied", "steps,", "mean"],
    ]
    assert float(longest[0][3]) == max(evaluation.copy.generated)
    assert f"a whole piece is {GRID.segment_steps} steps" in table
    assert not any("did not parse" in note for note in evaluation.notes)  # all 3 are music


def test_piece_statistics_of_a_scale_written_by_hand():
    """C major scale, one note per beat over two bars, then a bar of silence (trimmed)."""
    notes = np.zeros((3 * GRID.gamma, GRID.alpha, 3), dtype=np.uint8)
    for beat, pitch in enumerate([60, 62, 64, 65, 67, 69, 71, 72]):
        start = beat * GRID.steps_per_beat
        notes[start : start + 2, pitch - GRID.low] = (1, 0, 80)  # half a beat, then a rest
        notes[start, pitch - GRID.low, 1] = 1
    stats = piece_stats(notes, GRID)
    assert stats["pitch_class_entropy"] == pytest.approx(6 / 8 * 3 + 2 / 8 * 2)  # C twice
    assert stats["scale_consistency"] == 1.0
    assert stats["polyphony"] == 1.0
    assert stats["empty_beat_rate"] == 0.0  # trailing silence is not counted
    assert stats["pitch_range"] == 12
    assert stats["notes_per_bar"] == pytest.approx(8 / (30 / GRID.gamma))  # 30 steps to the end


def test_onsets_off_the_eighth_grid_are_counted_from_the_first_bar_line():
    """A line of eighths is on the grid; the same line slipped by a sixteenth is off it for
    every note after the slip."""
    eighth = GRID.steps_per_beat // 2

    def line(onsets: list[int]) -> np.ndarray:
        notes = np.zeros((64, GRID.alpha, 3), dtype=np.uint8)
        for step in onsets:
            notes[step, 20] = (1, 1, 80)
        return notes

    on_grid = list(range(0, 32, eighth))
    slipped = on_grid[:4] + [step + 1 for step in on_grid[4:]]
    assert piece_stats(line(on_grid), GRID)["off_eighth_onsets"] == 0.0
    assert piece_stats(line(slipped), GRID)["off_eighth_onsets"] == (len(on_grid) - 4) / len(
        on_grid
    )


def brute_force_runs(generated: np.ndarray, corpus: np.ndarray) -> list[int]:
    """Longest common run by dynamic programming (silent frames never match)."""
    best = []
    for piece in generated:
        longest = 0
        for segment in corpus:
            run = np.zeros((len(piece) + 1, len(segment) + 1), dtype=int)
            for i, frame in enumerate(piece):
                for j, other in enumerate(segment):
                    if frame.any() and np.array_equal(frame, other):
                        run[i + 1, j + 1] = run[i, j] + 1
            longest = max(longest, int(run.max()))
        best.append(longest)
    return best


def test_longest_common_runs_agree_with_dynamic_programming():
    rng = np.random.default_rng(7)
    for _ in range(10):
        corpus = rng.random((3, 30, 12)) < 0.15
        generated = rng.random((4, 20, 12)) < 0.15
        generated[0, 2:14] = corpus[1, 5:17]  # planted copies
        generated[3, 10:] = corpus[2, :10]
        got = longest_common_runs(np.packbits(generated, -1), np.packbits(corpus, -1))
        assert got.tolist() == brute_force_runs(generated, corpus)


def test_a_training_segment_is_found_whole_in_the_training_split(built):
    dataset = Dataset.open(built[0])
    train = split_segments(dataset, "train", 10**6)
    pieces = train[[0, 7]]
    runs = longest_common_runs(pack_pressed(pieces), pack_pressed(train))
    for piece, run in zip(pieces, runs, strict=True):
        sounding = piece[..., 0].any(axis=-1)
        stretches = np.diff(np.flatnonzero(np.diff(np.r_[0, sounding, 0])))[::2]
        assert run == stretches.max()  # the longest sounding stretch, silence breaks runs


def test_results_are_logged_to_the_models_run(evaluation, store):
    assert log_evaluation(evaluation, format_table(evaluation)) == store.run_id
    client = MlflowClient(tracking_uri=store.uri)
    logged = client.get_run(store.run_id).data.metrics
    assert logged["test/nll_frame"] == pytest.approx(evaluation.metrics["nll_frame"])
    for name, value in evaluation_metrics(evaluation).items():
        assert logged[name] == pytest.approx(value)
    artifacts = [a.path for a in client.list_artifacts(store.run_id, "evaluation")]
    assert artifacts == ["evaluation/test.txt"]


def test_pieces_are_sampled_with_the_temperature_and_top_p_given(built):
    """`mg evaluate --temperature/--top-p` judges the pieces `mg generate` would write with
    them, and its table says how they were sampled unless it was the model's own distribution
    (the default top-p, as mg generate's, is 0.9)."""
    loaded = load_model(built[1])
    plain = EvaluateOptions("test", num=2, seed=3, top_p=1.0)
    cooled = EvaluateOptions("test", num=2, seed=3, temperature=0.5, top_p=0.8)
    first = generated_pieces(loaded, loaded.grid, plain)
    assert np.array_equal(first, generated_pieces(loaded, loaded.grid, plain))
    assert not np.array_equal(first, generated_pieces(loaded, loaded.grid, cooled))
    assert sampling_note(plain) == []
    assert sampling_note(cooled) == ["pieces sampled at temperature 0.5, top-p 0.8"]
    assert sampling_note(EvaluateOptions()) == ["pieces sampled at temperature 1, top-p 0.9"]
