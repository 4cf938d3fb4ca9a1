"""musicgen/tracking/compare.py on a real SQLite tracking store holding runs logged with mg's metric keys."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from matplotlib.image import imread
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from mg.tracking.compare import (
    CompareError,
    dataset_warning,
    differing_params,
    format_duration,
    format_table,
    load_comparison,
    plot_curves,
)
from mg.tracking.ui import free_port

# Curves as a trainer would log them, one value per epoch; the minimum is not the last epoch.
CURVES = {
    "lstm": [3.1, 2.4, 2.05, 2.1],
    "gru": [3.0, 2.5, 2.2, 2.15],
}


def _log_run(client: MlflowClient, experiment_id: str, backbone: str, hidden: int) -> str:
    run = client.create_run(experiment_id, run_name=f"tiny-{backbone}", start_time=1_000_000)
    run_id = run.info.run_id
    params = {"model.backbone": backbone, "model.hidden": str(hidden), "data.steps_per_beat": "4"}
    tags = {"mg.backbone": backbone, "mg.family": "three-branch"}
    metrics = [
        Metric(key, value, 1_000_000 + epoch, epoch)
        for epoch, nll in enumerate(CURVES[backbone])
        for key, value in (("valid/nll_frame", nll), ("train/frames_per_s", 1000.0 * (epoch + 1)))
    ]
    client.log_batch(
        run_id,
        metrics=metrics,
        params=[Param(k, v) for k, v in params.items()],
        tags=[RunTag(k, v) for k, v in tags.items()],
    )
    client.set_terminated(run_id, "FINISHED", end_time=1_000_000 + 83_000)
    return run_id


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> dict:
    uri = f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.create_experiment("backbones")
    lstm = _log_run(client, experiment_id, "lstm", 32)
    gru = _log_run(client, experiment_id, "gru", 48)
    client.log_metric(lstm, "test/nll_frame", 2.07)  # what `mg evaluate` adds to a run
    empty = client.create_experiment("empty")
    return {"uri": uri, "lstm": lstm, "gru": gru, "empty": empty}


def test_an_experiment_name_brings_all_its_runs_best_first(store):
    comparison = load_comparison(["backbones"], store["uri"])
    assert [run.backbone for run in comparison.runs] == ["lstm", "gru"]
    lstm, gru = comparison.runs
    assert lstm.best == (2, min(CURVES["lstm"]))
    assert gru.best == (3, min(CURVES["gru"]))
    assert lstm.test_nll == pytest.approx(2.07) and gru.test_nll is None
    assert lstm.frames_per_s == 1000.0 * len(CURVES["lstm"])  # the last epoch's speed
    assert lstm.duration_s == pytest.approx(83.0)
    assert [value for _, value in gru.curve] == CURVES["gru"]


def test_the_short_ids_the_table_prints_select_runs(store):
    short = store["gru"][:8]
    assert short in format_table(load_comparison(["backbones"], store["uri"]))
    assert [run.run_id for run in load_comparison([short], store["uri"]).runs] == [store["gru"]]
    with pytest.raises(CompareError, match="no run or experiment named 'abcdef12'"):
        load_comparison(["abcdef12"], store["uri"])


def test_runs_on_different_datasets_get_a_column_and_a_warning(store, tmp_path):
    client = MlflowClient(tracking_uri=store["uri"])
    experiment_id = client.create_experiment("two-datasets")
    for folder, digest in (("folk", "a" * 64), ("bach", "b" * 64)):
        run_id = client.create_run(experiment_id, run_name=folder).info.run_id
        client.set_tag(run_id, "mg.dataset_manifest_sha256", digest)
        client.set_tag(run_id, "mg.dataset_path", str(tmp_path / folder))
        client.log_metric(run_id, "valid/nll_frame", 2.0, step=1)
    mixed = load_comparison(["two-datasets"], store["uri"])
    assert "dataset" in mixed.differing
    assert dataset_warning(mixed) == (
        "warning: these runs trained on 2 different datasets "
        "(bach (bbbbbbbb), folk (aaaaaaaa)): their NLLs do not compare"
    )
    assert dataset_warning(load_comparison(["backbones"], store["uri"])) is None


def test_run_ids_select_runs_and_repeats_count_once(store):
    comparison = load_comparison([store["gru"], store["gru"], "backbones"], store["uri"])
    assert sorted(run.run_id for run in comparison.runs) == sorted([store["lstm"], store["gru"]])
    only = load_comparison([store["gru"]], store["uri"])
    assert [run.run_id for run in only.runs] == [store["gru"]]


def test_only_params_that_differ_become_columns(store):
    comparison = load_comparison(["backbones"], store["uri"])
    assert comparison.differing == ["model.hidden"]  # backbone has its own column
    assert differing_params(comparison.runs[:1]) == []


def test_table_shows_each_runs_figures(store):
    table = format_table(load_comparison(["backbones"], store["uri"])).splitlines()
    assert "best valid/nll_frame (epoch)" in table[0] and "model.hidden" in table[0]
    lstm_row, gru_row = table[2], table[3]
    assert lstm_row.startswith("tiny-lstm") and "2.0500 (2)" in lstm_row and "2.0700" in lstm_row
    assert "1m23s" in lstm_row and "4,000" in lstm_row and lstm_row.rstrip().endswith("32")
    assert gru_row.startswith("tiny-gru") and "2.1500 (3)" in gru_row
    assert gru_row.rstrip().endswith("48")


def test_unknown_names_and_empty_experiments_are_one_line_errors(store):
    with pytest.raises(CompareError, match="no run or experiment named 'nope'"):
        load_comparison(["nope"], store["uri"])
    with pytest.raises(CompareError, match="no run or experiment named"):
        load_comparison(["0" * 32], store["uri"])  # shaped like a run id, but no such run
    with pytest.raises(CompareError, match="has no runs"):
        load_comparison(["empty"], store["uri"])


def test_a_missing_store_or_a_dead_server_fails_fast_and_creates_nothing(tmp_path):
    missing = tmp_path / "mlflow.db"
    with pytest.raises(CompareError, match=f"no MLflow store at {missing}"):
        load_comparison(["backbones"], f"sqlite:///{missing}")
    assert not missing.exists()
    dead = f"http://127.0.0.1:{free_port()}"  # nobody listens there
    with pytest.raises(CompareError, match=f"cannot reach the MLflow tracking server at {dead}"):
        load_comparison(["backbones"], dead)


def test_png_is_a_real_chart(store, tmp_path):
    out = plot_curves(load_comparison(["backbones"], store["uri"]), tmp_path / "sub" / "c.png")
    header = out.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    pixels = imread(out)
    assert pixels.shape[:2] == (height, width) and width > 400 and height > 200
    assert pixels.std() > 0.05  # curves and text, not a blank canvas


def test_durations_read_as_a_person_would_write_them():
    assert [format_duration(s) for s in (None, 9.25, 83, 3725)] == ["-", "9.2s", "1m23s", "1h02m"]


def test_plotting_runs_without_curves_is_an_error(store, tmp_path: Path):
    client = MlflowClient(tracking_uri=store["uri"])
    experiment_id = client.create_experiment("crashed-before-the-first-epoch")
    bare = client.create_run(experiment_id, run_name="no-epochs").info.run_id
    client.set_terminated(bare, "FAILED")
    comparison = load_comparison([bare], store["uri"])
    assert comparison.runs[0].best is None and "-" in format_table(comparison).splitlines()[2]
    with pytest.raises(CompareError, match="nothing to plot"):
        plot_curves(comparison, tmp_path / "none.png")
