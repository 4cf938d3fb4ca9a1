"""The MLflow UI that `mg ui` serves, seen in headless Chromium (make test-browser).

The pages are single-page apps: the served HTML holds no run at all, so the checks read the
DOM after the app's scripts fetched the runs over the REST API and rendered them.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from mg.tracking.ui import free_port, local_spec, running_server
from scripts import screenshot

pytestmark = pytest.mark.browser


CURVES = {"tiny-lstm": [3.0, 2.4, 2.1, 2.05], "tiny-gru": [2.9, 2.5, 2.3, 2.2]}


# Each plotted trace of the chart view: its line colour and how many epoch markers it has.
DRAWN_CURVES = """
Array.from(document.querySelectorAll('.js-plotly-plot .scatterlayer .trace')).map(trace => [
  trace.querySelector('path.js-line').style.stroke,
  trace.querySelectorAll('path.point').length,
])
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A store with an LSTM and a GRU run, served by a real `mlflow server`; stopped at the end."""
    folder = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.create_experiment("backbones")
    run_ids = []
    for name, curve in CURVES.items():
        run_id = client.create_run(experiment_id, run_name=name).info.run_id
        client.log_param(run_id, "model.backbone", name.removeprefix("tiny-"))
        metrics = [Metric("valid/nll_frame", v, 0, epoch) for epoch, v in enumerate(curve)]
        client.log_batch(run_id, metrics=metrics)
        client.set_terminated(run_id, "FINISHED")
        run_ids.append(run_id)
    spec = local_spec(uri, "127.0.0.1", free_port())
    with (folder / "server.log").open("wb") as log, running_server(spec, log) as address:
        yield address, experiment_id, run_ids


@pytest.fixture
def browser(tmp_path):
    with screenshot.Browser(tmp_path / "profile") as opened:
        yield opened


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


def test_experiment_page_lists_both_runs(served, browser, tmp_path):
    address, experiment_id, _ = served
    browser.goto(screenshot.experiment_url(address, experiment_id))
    text = browser.wait_for(list(CURVES))
    assert "2 matching runs" in text
    assert _png_size(browser.screenshot(tmp_path / "experiment.png")) == (1600, 1000)


def test_chart_view_overlays_both_curves(served, browser, tmp_path):
    address, experiment_id, _ = served
    browser.goto(screenshot.experiment_url(address, experiment_id, chart=True))
    legends = [f"{name} (valid/nll_frame)" for name in CURVES]
    browser.wait_for(legends, selector=".js-plotly-plot .scatterlayer .trace")
    drawn = browser.evaluate(DRAWN_CURVES)  # [line colour, points] per plotted trace
    marked = [points for _, points in drawn if points]
    assert len({colour for colour, _ in drawn}) == len(CURVES)  # one colour per run
    assert sorted(marked) == sorted(len(curve) for curve in CURVES.values())  # a point per epoch
    assert _png_size(browser.screenshot(tmp_path / "chart.png")) == (1600, 1000)


def test_compare_view_shows_both_runs_side_by_side(served, browser, tmp_path):
    address, experiment_id, run_ids = served
    browser.goto(screenshot.compare_url(address, experiment_id, run_ids))
    text = browser.wait_for(["Comparing 2 Runs", *CURVES, *run_ids])
    assert "model.backbone" in text and "lstm" in text and "gru" in text
    assert _png_size(browser.screenshot(tmp_path / "compare.png")) == (1600, 1000)
