"""A tiny `nade` model as a user meets it: `mg train --head nade` registers it, `mg generate`
with the controls samples the same bytes for a seed, and nothing is unpickled on the way."""

from __future__ import annotations

import _pickle
import json
import pickle
import uuid

import cloudpickle
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from mg.cli.app import app
from mg.tracking.model_uri import open_model

runner = CliRunner()


@pytest.fixture(scope="module")
def registered(train_data, in_store) -> str:
    name = f"nade-{uuid.uuid4().hex[:8]}"
    result = runner.invoke(
        app,
        [
            "train", "--data", str(train_data), "--preset", "tiny", "--head", "nade",
            "--epochs", "1", "--max-steps", "3", "--samples", "0", "--register", name,
            "--tracking-uri", in_store, "--experiment", "nade",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return name


def refuse_unpickling(monkeypatch) -> list[str]:
    calls: list[str] = []

    def refuse(*args, **kwargs):
        calls.append("load")
        raise AssertionError("pickle was asked to load something")

    class RefusingUnpickler:
        def __init__(self, *args, **kwargs):
            calls.append("Unpickler")
            raise AssertionError("pickle was asked to load something")

    for module in (pickle, _pickle, cloudpickle):
        monkeypatch.setattr(module, "load", refuse)
        monkeypatch.setattr(module, "loads", refuse)
    for module in (pickle, _pickle):
        monkeypatch.setattr(module, "Unpickler", RefusingUnpickler)
    return calls


def generate(name: str, store: str, out, *extra: str):
    args = ["generate", "--model-uri", f"models:/{name}@latest", "--num", "2", "--steps", "64"]
    args += ["--out", str(out), "--tracking-uri", store, *extra]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return {path.name: path.read_bytes() for path in sorted(out.glob("*.mid"))}


def test_the_head_is_recorded_in_the_params_and_in_config_json(registered, in_store):
    client = MlflowClient(tracking_uri=in_store)
    version = client.get_model_version_by_alias(registered, "latest")
    assert client.get_run(version.run_id).data.params["model.head"] == "nade"
    loaded, _ = open_model(f"models:/{registered}@latest", in_store)
    assert loaded.model.config.head == "nade" and loaded.info["config"]["head"] == "nade"
    assert json.loads(json.dumps(loaded.info))["config"]["head_units"] == 32


def test_a_registered_nade_model_samples_the_same_bytes_without_unpickling(
    registered, in_store, tmp_path, monkeypatch
):
    controls = ("--seed", "7", "--key", "D:major", "--max-polyphony", "2", "--temperature", "0.8")
    first = generate(registered, in_store, tmp_path / "a", *controls)  # lazy imports bind first
    calls = refuse_unpickling(monkeypatch)
    again = generate(registered, in_store, tmp_path / "b", *controls)
    other = generate(registered, in_store, tmp_path / "c", "--seed", "8")
    assert calls == []
    assert len(first) == 2 and first == again
    assert first != other


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--key", "H:minor", "tonic A-G"),
        ("--pitch-range", "90:20", "LOW <= HIGH"),
        ("--max-polyphony", "0", "greater than or equal to 1"),
    ],
)
def test_a_bad_control_is_a_usage_error_naming_it(
    registered, in_store, tmp_path, option, value, words
):
    args = ["generate", "--model-uri", f"models:/{registered}@latest", option, value]
    args += ["--out", str(tmp_path), "--tracking-uri", in_store]
    result = runner.invoke(app, args, env={"COLUMNS": "300", "NO_COLOR": "1"})
    assert result.exit_code == 2 and words in result.output and option in result.output
