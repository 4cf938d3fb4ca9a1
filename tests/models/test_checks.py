"""Hostile model folders (issue 18): a config.json claiming absurd sizes, weights that do not fit
it, a broken safetensors header, and model names with dots. Each is one ModelLoadError line,
raised before anything of the claimed size is allocated."""

from __future__ import annotations

import json
import resource
import time

import pytest

from mg.errors import ModelLoadError
from mg.generation.generate import GenerateOptions, generate
from mg.generation.sampling import SamplingOptions
from mg.models import registry
from mg.models.saving import load_model, save_model
from mg.representation.grid import Grid

GRID = Grid(bars=1, low=48, high=71)


def saved(tmp_path, family="three-branch", name="model", **overrides):
    fam = registry.get(family)
    model = fam.build(fam.make_config("tiny", GRID, **overrides))
    return save_model(tmp_path / name, fam.name, model, GRID)


def with_config(folder, **changes):
    path = folder / "config.json"
    info = json.loads(path.read_text())
    info["config"].update(changes)
    path.write_text(json.dumps(info))
    return folder


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize(
    ("family", "changes", "words"),
    [
        ("three-branch", {"hidden": 12000}, "do not fit the config"),
        ("three-branch", {"alpha": 1e7}, "alpha must be int"),
        ("three-branch", {"alpha": 10_000_000}, "alpha = 10000000 is out of range"),
        ("three-branch", {"layers": 1e6}, "layers must be int"),
        ("three-branch", {"layers": 1_000_000}, "layers = 1000000 is out of range"),
        ("three-branch", {"layers": 3}, "do not fit the config (missing"),
        ("three-branch", {"hidden": -1}, "out of range"),
        ("three-branch", {"dropout": float("nan")}, "dropout must be float"),
        ("pianoroll-rnn", {"hidden": 4096}, "do not fit the config"),
        ("char-rnn", {"vocab_size": 100_000}, "vocab_size = 100000 is out of range"),
        ("char-rnn", {"embedding": "512"}, "embedding must be int"),
        ("transformer", {"window": 10**9}, "window = 1000000000 is out of range"),
        ("transformer", {"hidden": 64}, "do not fit the config"),
    ],
)
def test_a_config_claiming_other_sizes_is_one_line_before_any_allocation(
    tmp_path, family, changes, words
):
    folder = with_config(saved(tmp_path, family), **changes)
    before, started = peak_mb(), time.monotonic()
    with pytest.raises(ModelLoadError) as caught:
        load_model(folder)
    message = str(caught.value)
    assert words in message and str(folder) in message and "\n" not in message
    assert time.monotonic() - started < 60  # a loaded 2-core machine; the hang was minutes
    assert peak_mb() - before < 200  # the claimed sizes (GBs) were never allocated


def test_weights_of_another_shape_are_one_line_naming_the_tensor(tmp_path):
    folder = saved(tmp_path, hidden=32)
    other = saved(tmp_path, name="other", hidden=16)
    (folder / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes())
    with pytest.raises(ModelLoadError) as caught:
        load_model(folder)
    message = str(caught.value)
    assert "model.safetensors" in message and "in the file" in message and "\n" not in message


@pytest.mark.parametrize(
    "weights",
    [
        b"",
        b"\x05\x00",
        (10**12).to_bytes(8, "little") + b"{}",
        (7).to_bytes(8, "little") + b"not {}!",
        (2).to_bytes(8, "little") + b"[]",
    ],
)
def test_a_broken_safetensors_header_is_one_line(tmp_path, weights):
    folder = saved(tmp_path)
    (folder / "model.safetensors").write_bytes(weights)
    with pytest.raises(ModelLoadError) as caught:
        load_model(folder)
    assert "model.safetensors" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("name", ["folk.v2", "a.b.c", "tune.mid", "v1.0-final"])
def test_a_model_name_with_dots_writes_one_file_per_piece(tmp_path, name):
    folder = saved(tmp_path, name=name)
    sampling = SamplingOptions(steps=16, num=3, seed=1)
    result = generate(str(folder), GenerateOptions(sampling, out=tmp_path / "out", png=True))
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    expected = [f"{name}-s1-{i}.{ext}" for i in range(3) for ext in ("mid", "png")]
    assert names == sorted(expected)
    assert [p.midi.name for p in result.pieces] == [f"{name}-s1-{i}.mid" for i in range(3)]


def test_a_good_model_still_loads_after_the_checks(tmp_path):
    for family in ("three-branch", "pianoroll-rnn", "char-rnn", "transformer"):
        loaded = load_model(saved(tmp_path, family, name=family))
        assert loaded.family.name == family
