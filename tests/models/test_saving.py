"""Save → load gives the same model for every family and backbone, and loading never unpickles."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from mg import zoo
from mg.data.vocabulary import ASCII_VOCABULARY, Vocabulary
from mg.errors import ModelLoadError
from mg.models.protocol import NoteBatch, TextBatch
from mg.models.saving import CONFIG_FILE, WEIGHTS_FILE, load_model, save_model
from mg.representation.grid import Grid
from mg.zoo.char_rnn import CharRnn

CASES = [(f.name, b) for f in zoo.families() for b in f.backbones]
GRID = Grid(low=36, high=95, steps_per_beat=3, beats_per_bar=3)  # not the default: it must travel


def trained_looking(name: str, backbone: str) -> torch.nn.Module:
    """A tiny model with weights far from their initial values."""
    family = zoo.get(name)
    torch.manual_seed(3)
    model = family.build(family.make_config("tiny", GRID, backbone=backbone, layers=2))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.1)
    return model.eval()


def batch_for(name: str):
    generator = torch.Generator().manual_seed(5)
    if zoo.get(name).inputs == "text":
        return TextBatch(torch.randint(1, 97, (2, 10), generator=generator))
    notes = (torch.rand(2, 10, GRID.alpha, 3, generator=generator) < 0.2).float()
    context = torch.rand(2, 10, GRID.alpha, 3, generator=generator)
    return NoteBatch(notes, context, torch.arange(10).remainder(GRID.gamma).repeat(2, 1))


def outputs(model, batch) -> list[torch.Tensor]:
    with torch.no_grad():
        output = model(batch)
    if hasattr(output, "conditionals"):  # a note family's distribution: score the batch
        return [*vars(output.conditionals(batch.notes)).values(), output.log_prob(batch.notes)]
    return [output]


@pytest.fixture
def no_unpickling(monkeypatch):
    """Make every pickle entry point raise, so a load that unpickles fails loudly."""

    def refuse(*args, **kwargs):
        raise AssertionError("loading a model must never unpickle")

    class RefusingUnpickler:
        def __init__(self, *args, **kwargs):
            refuse()

    for name in ("load", "loads"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(pickle, "Unpickler", RefusingUnpickler)
    monkeypatch.setattr(torch, "load", refuse)


@pytest.mark.parametrize(("name", "backbone"), CASES)
def test_saved_model_loads_with_identical_outputs(tmp_path, name, backbone, no_unpickling):
    model = trained_looking(name, backbone)
    save_model(tmp_path / "model", name, model, GRID)
    loaded = load_model(tmp_path / "model")
    assert loaded.family.name == name and loaded.grid == GRID
    assert loaded.model.config == model.config and not loaded.model.training
    batch = batch_for(name)
    for before, after in zip(outputs(model, batch), outputs(loaded.model, batch), strict=True):
        assert torch.equal(before, after)


def test_config_json_records_grid_kernel_and_extra(tmp_path):
    save_model(
        tmp_path, "three-branch", trained_looking("three-branch", "gru"), GRID, {"run": "r1"}
    )
    info = json.loads((tmp_path / CONFIG_FILE).read_text())
    assert info["grid"] == GRID.to_dict() and info["run"] == "r1"
    assert info["kernel"]["window"].endswith("(causal)")
    assert info["config"]["backbone"] == "gru" and info["config"]["alpha"] == GRID.alpha


def test_char_rnn_vocabulary_travels_with_the_model(tmp_path):
    reordered = Vocabulary(ASCII_VOCABULARY[0] + ASCII_VOCABULARY[:0:-1])
    model = CharRnn(zoo.get("char-rnn").make_config("tiny"), reordered)
    save_model(tmp_path, "char-rnn", model, GRID)
    assert json.loads((tmp_path / CONFIG_FILE).read_text())["vocabulary"] == reordered.chars
    assert load_model(tmp_path).model.vocabulary == reordered


@pytest.mark.parametrize(
    ("damage", "message"),
    [("no_grid", "records no valid grid"), ("kernel", "recorded context kernel differs")],
)
def test_grid_and_kernel_are_checked_on_load(tmp_path, damage, message):
    save_model(tmp_path, "three-branch", trained_looking("three-branch", "lstm"), GRID)
    info = json.loads((tmp_path / CONFIG_FILE).read_text())
    if damage == "no_grid":
        info["grid"] = None
    else:
        info["kernel"]["normaliser"][2] = 1.0
    (tmp_path / CONFIG_FILE).write_text(json.dumps(info))
    with pytest.raises(ModelLoadError, match=message):
        load_model(tmp_path)


def test_missing_files_are_one_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="not an mg model"):
        load_model(tmp_path)


def test_corrupt_weights_are_a_model_load_error(tmp_path):
    save_model(tmp_path, "pianoroll-rnn", trained_looking("pianoroll-rnn", "lstm"), GRID)
    (tmp_path / WEIGHTS_FILE).write_bytes(b"\x00garbage")
    with pytest.raises(ModelLoadError, match="cannot load the model"):
        load_model(tmp_path)


def test_weights_of_another_shape_are_a_model_load_error(tmp_path):
    save_model(tmp_path, "three-branch", trained_looking("three-branch", "lstm"), GRID)
    info = json.loads((tmp_path / CONFIG_FILE).read_text())
    info["config"]["hidden"] += 1
    (tmp_path / CONFIG_FILE).write_text(json.dumps(info))
    with pytest.raises(ModelLoadError, match=str(tmp_path)):
        load_model(tmp_path)


def test_unknown_family_and_foreign_json_are_model_load_errors(tmp_path):
    save_model(tmp_path, "char-rnn", trained_looking("char-rnn", "lstm"), GRID)
    info = json.loads((tmp_path / CONFIG_FILE).read_text())
    (tmp_path / CONFIG_FILE).write_text(json.dumps({**info, "family": "no-such-family"}))
    with pytest.raises(ModelLoadError, match="unknown model family"):
        load_model(tmp_path)
    (tmp_path / CONFIG_FILE).write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ModelLoadError, match="not an mg-model/1"):
        load_model(tmp_path)


def test_saving_under_the_wrong_family_is_refused(tmp_path):
    with pytest.raises(ValueError, match="pianoroll-rnn model has a PianorollConfig"):
        save_model(tmp_path, "pianoroll-rnn", trained_looking("three-branch", "lstm"), GRID)


def test_a_config_key_this_mg_does_not_know_is_one_error_naming_it(tmp_path):
    """A model saved by another version (the transformer's old `width`) or hand-edited is
    refused with the key named, never loaded with the key silently dropped."""
    save_model(tmp_path, "three-branch", trained_looking("three-branch", "lstm"), GRID)
    info = json.loads((tmp_path / CONFIG_FILE).read_text())
    info["config"]["width"] = 32
    (tmp_path / CONFIG_FILE).write_text(json.dumps(info))
    with pytest.raises(ModelLoadError) as caught:
        load_model(tmp_path)
    message = str(caught.value)
    assert str(tmp_path / CONFIG_FILE) in message and "no field 'width'" in message
    assert "\n" not in message
