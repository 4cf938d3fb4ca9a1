"""Resumable checkpoints: everything comes back (model, AdamW, RNG, loop), no pickle is written,
and a crash at any point of the write leaves a checkpoint to resume from."""

from __future__ import annotations

import shutil

import pytest
import torch

from mg.models import registry
from mg.models.protocol import NoteBatch
from mg.representation.grid import Grid
from mg.training.checkpoints import (
    CheckpointError,
    LoopState,
    load_checkpoint,
    save_checkpoint,
    swap_in,
)

GRID = Grid(bars=1, low=60, high=71)


def trained(seed: int, steps: int):
    torch.manual_seed(seed)
    family = registry.get("three-branch")
    model = family.build(family.make_config("tiny", GRID, dropout=0.1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(steps):
        notes = (torch.rand(2, GRID.segment_steps, GRID.alpha, 3) > 0.8).float()
        position = torch.arange(GRID.segment_steps).repeat(2, 1) % GRID.gamma
        batch = NoteBatch(notes, notes, position)
        loss, _ = model.loss(batch, model(batch))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model, optimizer


def test_checkpoint_restores_model_optimizer_rng_and_loop(tmp_path):
    model, optimizer = trained(seed=1, steps=3)
    state = LoopState(epoch=2, step=3, best_value=1.5, best_epoch=1, stale_epochs=1)
    state.history.append({"valid/nll_frame": 1.5})
    save_checkpoint(tmp_path / "ckpt", "three-branch", model, GRID, optimizer, state)
    expected_draw = torch.rand(4)
    assert {p.suffix for p in (tmp_path / "ckpt").iterdir()} == {".json", ".safetensors"}

    other_model, other_optimizer = trained(seed=2, steps=1)
    restored = load_checkpoint(tmp_path / "ckpt", other_model, other_optimizer)
    assert restored == state
    torch.testing.assert_close(torch.rand(4), expected_draw)  # the RNG continues where it was
    for key, value in model.state_dict().items():
        torch.testing.assert_close(other_model.state_dict()[key], value)
    saved, loaded = optimizer.state_dict(), other_optimizer.state_dict()
    assert saved["param_groups"] == loaded["param_groups"]
    for index, slots in saved["state"].items():
        for name, value in slots.items():
            torch.testing.assert_close(loaded["state"][index][name], value)


def test_a_crash_mid_write_leaves_a_checkpoint_to_resume_from(tmp_path):
    model, optimizer = trained(seed=1, steps=1)
    folder = tmp_path / "ckpt"
    save_checkpoint(folder, "three-branch", model, GRID, optimizer, LoopState(epoch=1))
    # a crash while writing the next one: the staging folder is half written
    staging = tmp_path / "ckpt.tmp"
    staging.mkdir()
    (staging / "config.json").write_text("{")
    assert load_checkpoint(folder, model, optimizer).epoch == 1
    # the next save starts from a clean staging folder
    save_checkpoint(folder, "three-branch", model, GRID, optimizer, LoopState(epoch=2))
    assert load_checkpoint(folder, model, optimizer).epoch == 2 and not staging.exists()
    # a crash between the two renames: only the previous checkpoint (".old") is there
    folder.rename(tmp_path / "ckpt.old")
    assert load_checkpoint(folder, model, optimizer).epoch == 2


def test_swap_in_replaces_a_folder_with_renames(tmp_path):
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "a").write_text("new")
    (tmp_path / "live").mkdir()
    (tmp_path / "live" / "a").write_text("old")
    swap_in(tmp_path / "new", tmp_path / "live")
    assert (tmp_path / "live" / "a").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live"]


def test_no_checkpoint_is_one_clear_error(tmp_path):
    model, optimizer = trained(seed=1, steps=0)
    with pytest.raises(CheckpointError, match="no checkpoint here"):
        load_checkpoint(tmp_path, model, optimizer)
    save_checkpoint(tmp_path / "c", "three-branch", model, GRID, optimizer, LoopState())
    shutil.copy(tmp_path / "c" / "trainer.json", tmp_path / "trainer.json")
    with pytest.raises(CheckpointError, match="cannot resume"):
        load_checkpoint(tmp_path, model, optimizer)
