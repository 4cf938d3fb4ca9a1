"""Long pieces train in chunks (truncated back-propagation, the state carried across a piece's
chunks and reset between pieces), on real Bach chorales (tests/fixtures/corpora.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from mg.cli.app import app
from mg.evaluation.polyphonic.chunks import ChunkBatch, StateCarrier, carries_state, check_chunk
from mg.evaluation.polyphonic.loaders import load
from mg.evaluation.polyphonic.pieces import PIECES, PieceLoader
from mg.evaluation.polyphonic.report import merge_results
from mg.evaluation.polyphonic.run import ModelSpec, Settings, note_config, run_model
from mg.evaluation.polyphonic.tracking import Tracker
from mg.representation.grid import Grid
from mg.training.build import build_model

GRID = Grid(steps_per_beat=1, beats_per_bar=4)
SETTINGS = Settings(GRID)


@pytest.fixture(scope="module")
def chorales(chorale_benchmark):
    return load(chorale_benchmark / "JSB_Chorales.mat")


def tiny(family: str = "three-branch") -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(note_config(ModelSpec(family, "lstm", "tiny"), SETTINGS))
    return model.double()  # sums compared to rounding


def _as_double(batch):
    batch.notes, batch.context = batch.notes.double(), batch.context.double()
    return batch


def loader(rolls, chunk: int, seed: int = 0, frames: int = 10**6) -> PieceLoader:
    return PieceLoader(rolls, GRID, frames, 6, np.random.default_rng(seed), chunk=chunk)


def loss_and_grads(model, output_of, batch):
    model.zero_grad()
    loss, _ = model.loss(batch, output_of(batch))
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("family", ["three-branch", "pianoroll-rnn"])
def test_a_chunk_as_long_as_the_pieces_trains_exactly_as_whole_pieces(chorales, family):
    model = tiny(family)
    longest = max(len(roll) for roll in chorales.train)
    (whole,) = loader(chorales.train, 0).epoch(1)
    (chunk,) = loader(chorales.train, longest).epoch(1)
    assert isinstance(chunk, ChunkBatch) and chunk.fresh
    assert torch.equal(chunk.notes, whole.notes)  # same pieces, same transpositions
    expected = loss_and_grads(model, model, _as_double(whole))
    got = loss_and_grads(model, StateCarrier(model), _as_double(chunk))
    assert torch.allclose(got[0], expected[0], rtol=1e-12, atol=0)
    for a, b in zip(got[1], expected[1], strict=True):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("family", ["three-branch", "pianoroll-rnn"])
def test_chunks_score_every_frame_once_from_the_carried_state(chorales, family):
    """Summed over a group's chunks the loss is the whole pieces' loss: the state crosses chunk
    boundaries intact (forward values; only the gradient is truncated) and no frame at a
    boundary is skipped or scored twice."""
    model = tiny(family)
    (whole,) = loader(chorales.train, 0).epoch(1)
    chunks = list(loader(chorales.train, 16).epoch(1))
    assert len(chunks) == math.ceil(max(len(r) for r in chorales.train) / 16) > 3
    assert [c.fresh for c in chunks] == [True] + [False] * (len(chunks) - 1)
    carrier = StateCarrier(model)
    with torch.no_grad():
        expected_loss, expected_parts = model.loss(whole, model(_as_double(whole)))
        frames = sum(PIECES.frames(c) for c in chunks)
        summed = {name: 0.0 for name in expected_parts}
        for c in chunks:
            _, parts = model.loss(c, carrier(_as_double(c)))
            for name in summed:
                summed[name] += float(parts[name]) * PIECES.frames(c)
    assert frames == sum(len(roll) for roll in chorales.train)  # every real frame, once
    for name, part in expected_parts.items():
        assert math.isclose(summed[name] / frames, float(part), rel_tol=1e-10), name


def test_the_state_is_reset_between_pieces(chorales):
    """A group's chunks start from the initial state: a piece's loss does not depend on what
    its stream read before it."""
    model = tiny()
    rolls = chorales.train
    first = list(loader(rolls[:1], 16, frames=1).epoch(1))
    second = list(loader(rolls[1:2], 16, frames=1).epoch(1))
    alone = StateCarrier(model)
    after = StateCarrier(model)
    with torch.no_grad():
        expected = [float(model.loss(c, alone(_as_double(c)))[0]) for c in second]
        for c in first:  # the stream reads another piece first
            after(_as_double(c))
        got = [float(model.loss(c, after(_as_double(c)))[0]) for c in second]
    assert got == expected


def test_chunks_group_many_long_pieces_in_a_batch(chorales):
    """Whole pieces of 8 chorales each make batches of one piece; in chunks a batch holds
    about frames_per_batch frames of several pieces side by side."""
    long = [np.concatenate(chorales.train * 3)] * 4  # four pieces of 3 × 3 chorales
    whole = list(loader(long, 0, frames=256).epoch(1))
    chunks = list(loader(long, 64, frames=256).epoch(1))
    assert {len(b.notes) for b in whole} == {1}
    assert {len(b.notes) for b in chunks} == {4} and all(len(c.position[0]) <= 65 for c in chunks)
    assert sum(PIECES.frames(c) for c in chunks) == sum(len(r) for r in long)


def test_the_transformer_carries_no_state_and_is_refused_chunks():
    transformer = build_model(note_config(ModelSpec("transformer", "attention", "tiny"), SETTINGS))
    assert carries_state(tiny()) and carries_state(tiny("pianoroll-rnn"))
    assert not carries_state(transformer)
    with pytest.raises(ValueError, match="carries no recurrent state"):
        StateCarrier(transformer)


def test_a_run_records_its_chunk_and_the_transformer_trains_on_whole_pieces(chorales, tmp_path):
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "benchmark-chunks")
    settings = Settings(GRID, max_epochs=1, frames_per_batch=64, chunk=16)
    said, results = [], []
    for family, backbone in (("pianoroll-rnn", "lstm"), ("transformer", "attention")):
        result = run_model(
            ModelSpec(family, backbone, "tiny"), chorales, settings, tracker, said.append
        )
        params = tracker.store.client.get_run(result.run_id).data.params
        assert params["chunk"] == str(result.chunk) == ("16" if family == "pianoroll-rnn" else "0")
        assert math.isfinite(result.test_nll)
        results.append(result)
    [line] = [line for line in said if "whole pieces" in line]
    assert line.startswith("transformer") and "carries no recurrent state" in line
    rows = merge_results(tmp_path / "r.json", "jsb", results, settings.params(), "")["jsb"]
    assert {row["settings"]["chunk"] for row in rows["models"].values()} == {0, 16}


@pytest.mark.parametrize("bad", [-1, 1, 2.5, True])
def test_a_bad_chunk_is_refused(bad):
    with pytest.raises(ValueError, match="--chunk"):
        check_chunk(bad)
    with pytest.raises(ValueError, match="--chunk"):
        Settings(GRID, chunk=bad)
    assert check_chunk(0) == 0 and check_chunk(128) == 128


def test_the_command_refuses_a_bad_chunk_in_one_line(chorale_benchmark):
    data = chorale_benchmark / "JSB_Chorales.mat"
    args = ["benchmark", "polyphonic", "--data", str(data), "--chunk", "-5"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith("mg: error: --chunk -5: ")
