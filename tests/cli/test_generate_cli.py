"""`mg generate` and `mg evaluate` as a user runs them, on a model trained on folk tunes."""

from __future__ import annotations

import _pickle
import math
import pickle
import re
from pathlib import Path

import cloudpickle
import pytest
from typer.testing import CliRunner

from mg.cli.app import app


@pytest.fixture(scope="module")
def built(tiny_model):
    return tiny_model


def run(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_generate_writes_the_files_it_lists(built, tmp_path):
    out = tmp_path / "out"
    result = run(
        "generate", "--model-uri", built[1], "--steps", 32, "--num", 2, "--seed", 3,
        "--temperature", 0.9, "--top-p", 0.95, "--out", out, "--png",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    names = [f"tiny-three-branch-s3-{i}{ext}" for i in range(2) for ext in (".mid", ".png")]
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    listed = [line for line in result.stdout.splitlines() if line.startswith(str(out))]
    assert sorted(Path(line).name for line in listed) == sorted(names)
    assert "2 piece(s)" in result.stdout


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("missing-folder", "no such model folder"),
        ("runs:/" + "0" * 32 + "/model", "not found"),
        ("ftp://host/model", "not a model URI"),
    ],
)
def test_a_bad_uri_is_one_line_and_exit_1(model_store, tmp_path, uri, words):
    store = model_store
    result = run(
        "generate", "--model-uri", uri, "--out", tmp_path / "out", "--tracking-uri", store.uri
    )
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mg: error:") and words in lines[0]
    assert "Traceback" not in result.output


def test_mg_generate_never_unpickles(built, model_store, tmp_path, monkeypatch):
    """Safe loading: the test fails if pickle loads anything while `mg generate` fetches a
    registered model from MLflow, loads it and samples. One run first, unpatched, so that
    modules imported lazily on the way never bind the patched functions."""
    store = model_store
    uris = (f"models:/{store.name}@champion", f"runs:/{store.run_id}/model")
    args = ("--steps", 16, "--out", tmp_path, "--tracking-uri", store.uri)
    assert run("generate", "--model-uri", uris[0], *args).exit_code == 0
    calls = []

    def refuse(*args, **kwargs):
        calls.append("load")
        raise AssertionError("pickle was asked to load something")

    class RefusingUnpickler:  # a class, so that code subclassing Unpickler fails when it loads
        def __init__(self, *args, **kwargs):
            calls.append("Unpickler")
            raise AssertionError("pickle was asked to load something")

    for module in (pickle, _pickle, cloudpickle):  # cloudpickle: MLflow's pickled pyfunc models
        monkeypatch.setattr(module, "load", refuse)
        monkeypatch.setattr(module, "loads", refuse)
    for module in (pickle, _pickle):
        monkeypatch.setattr(module, "Unpickler", RefusingUnpickler)
    for uri in uris:
        result = run("generate", "--model-uri", uri, *args)
        assert result.exit_code == 0, result.output
    assert calls == []


def test_wav_without_fluidsynth_says_how_to_install_it(built, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no fluidsynth on this PATH
    result = run("generate", "--model-uri", built[1], "--out", tmp_path / "out", "--wav")
    assert result.exit_code == 1
    assert "make system-deps" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()  # refused before any work


def test_options_out_of_range_are_usage_errors(built):
    assert run("generate", "--model-uri", built[1], "--num", 0).exit_code == 2
    assert run("generate", "--model-uri", built[1], "--top-p", 1.5).exit_code == 2


def test_evaluate_prints_finite_nlls_and_logs_to_the_run(built, model_store):
    store = model_store
    result = run(
        "evaluate", "--model-uri", f"models:/{store.name}/1", "--data", built[0],
        "--num", 2, "--tracking-uri", store.uri,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for name in ("nll_frame", "nll_articulation", "velocity_mae"):
        value = re.search(rf"^{name}\s+(\S+)", result.stdout, re.MULTILINE)
        assert value and math.isfinite(float(value[1]))
    assert f"logged to MLflow run {store.run_id}" in result.stdout


def test_evaluate_on_a_local_folder_logs_nothing_and_refuses_an_unknown_split(built):
    result = run("evaluate", "--model-uri", built[1], "--data", built[0], "--num", 1)
    assert result.exit_code == 0, result.output
    assert "pitch_class_entropy" in result.stdout and "logged" not in result.stdout
    bad = run("evaluate", "--model-uri", built[1], "--data", built[0], "--split", "nope")
    assert bad.exit_code == 1 and "unknown split 'nope'" in bad.stderr


def test_help_shows_flags_without_a_type_and_uri_forms_whole():
    """What `mg generate --help` shows on an 80-column terminal (the console script's `main`)."""
    import os
    import subprocess
    import sys

    mg = str(Path(sys.executable).parent / "mg")
    env = {**os.environ, "COLUMNS": "80", "TERMINAL_WIDTH": "80"}
    shown = subprocess.run(
        [mg, "generate", "--help"], capture_output=True, text=True, env=env, check=True
    ).stdout
    png = next(line for line in shown.splitlines() if "--png" in line)
    assert "<bool>" not in png
    assert "models:/NAME/VERSION, models:/NAME@ALIAS, runs:/RUN_ID/PATH" in shown
