"""A run's recorded config (`RunConfig.to_json`) reads back as it was written; a key this mg does
not know, in the model's part or the training part, is one error naming it."""

from __future__ import annotations

import pytest

from mg.models import registry
from mg.representation.grid import Grid
from mg.training.config import RunConfig, TrainConfig


@pytest.fixture
def recorded() -> dict:
    grid = Grid(bars=1, low=48, high=71)
    model = registry.get("three-branch").make_config("tiny", grid)
    config = RunConfig("three-branch", "tiny", model, grid, TrainConfig(epochs=2, lr=0.01))
    return config.to_json()


def test_a_recorded_config_reads_back_as_written(recorded):
    assert RunConfig.from_json(recorded).to_json() == recorded


@pytest.mark.parametrize(("part", "key"), [("model", "hiddenn"), ("train", "learning_rate")])
def test_an_unknown_key_is_one_error_naming_it(recorded, part, key):
    recorded[part][key] = 1
    with pytest.raises(ValueError, match=f"no field '{key}'"):
        RunConfig.from_json(recorded)
