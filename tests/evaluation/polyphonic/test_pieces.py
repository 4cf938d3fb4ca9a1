"""The benchmark trained by the trainer: its data side, its metric and its learning-rate
schedule, on real JSB chorales."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mg.evaluation.polyphonic.loaders import load, subset
from mg.evaluation.polyphonic.nll import model_nll, prepare
from mg.evaluation.polyphonic.pieces import PIECES, PieceLoader
from mg.evaluation.polyphonic.run import ModelSpec, Settings, note_config
from mg.representation.grid import Grid
from mg.training.build import build_model
from mg.training.checkpoints import LoopState
from mg.training.distributed import Placement
from mg.training.loop import evaluate, plateau_update

GRID = Grid(steps_per_beat=1, beats_per_bar=4)


@pytest.fixture(scope="module")
def chorales(polyphonic):
    return subset(load(polyphonic / "JSB_Chorales.mat"), 12)


def test_ranks_share_each_epoch_with_no_piece_twice_and_none_left_out(chorales):
    def pieces_of(rank: int) -> list[int]:
        loader = PieceLoader(chorales.train, GRID, 256, 6, np.random.default_rng(0), rank, 2)
        return [int(n) for batch in loader.epoch(1) for n in batch.mask.sum(1)]

    lengths = sorted(len(roll) + 1 for roll in chorales.train)
    assert sorted(pieces_of(0) + pieces_of(1)) == lengths


def test_transposition_moves_whole_pieces_and_keeps_them_in_range(chorales):
    loader = PieceLoader(chorales.train, GRID, 10**6, 6, np.random.default_rng(3))
    (batch,) = loader.epoch(1)
    pressed = batch.notes[..., 0].sum((0, 1))
    original = sum(torch.from_numpy(roll).float().sum(0) for roll in chorales.train)
    assert pressed.sum() == original.sum()  # no note lost at the range's edges
    assert not torch.equal(pressed, original)  # and the pitches did move


def test_the_trainers_validation_is_the_published_metric(chorales):
    config = note_config(ModelSpec("three-branch", "lstm", "tiny"), Settings(GRID))
    model = build_model(config)
    valid = PieceLoader(chorales.valid, GRID, 4096)
    metrics = evaluate(model, valid, PIECES, Placement())
    expected = model_nll(model, prepare(chorales.valid, GRID)).mean
    assert math.isclose(metrics["valid/nll_frame"], expected, rel_tol=1e-12)


def test_the_plateau_schedule_halves_the_rate_as_torch_does():
    values = [5.0, 4.0, 4.0, 3.9999, 4.1, 4.2, 3.0, 3.0, 3.0, 3.0, 3.0, 2.0, float("nan")] * 2
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimiser = torch.optim.SGD([parameter], lr=1.0)
    reference = torch.optim.lr_scheduler.ReduceLROnPlateau(optimiser, factor=0.5, patience=3)
    state = LoopState()
    for value in values:
        reference.step(value)
        plateau_update(state, value)
        assert state.lr_scale == optimiser.param_groups[0]["lr"]
    assert state.lr_scale < 0.5  # it did halve, more than once
