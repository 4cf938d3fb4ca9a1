"""`mg ui` and `mg compare` as a user runs them: a real store, a real server, a real Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from mg.cli.app import app
from mg.tracking.ui import free_port, port_in_use

MG = str(Path(sys.executable).parent / "mg")
NLL = {"lstm": [2.9, 2.3, 2.35], "gru": [2.8, 2.6, 2.4]}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A SQLite store (named mlflow.db, as `mg train` names it) with an LSTM and a GRU run."""
    folder = tmp_path_factory.mktemp("runs")
    client = MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    experiment_id = client.create_experiment("tiny")
    for backbone, curve in NLL.items():
        run_id = client.create_run(experiment_id, run_name=f"tiny-{backbone}").info.run_id
        client.set_tag(run_id, "mg.backbone", backbone)
        client.log_param(run_id, "model.backbone", backbone)
        metrics = [Metric("valid/nll_frame", v, 0, epoch) for epoch, v in enumerate(curve)]
        client.log_batch(run_id, metrics=metrics)
        client.set_terminated(run_id, "FINISHED")
    return folder


def _compare(args: list[str], env: dict[str, str] | None = None):
    return CliRunner().invoke(app, ["compare", *args], env=env)


def test_compare_prints_both_runs_and_draws_the_png(store, tmp_path):
    png = tmp_path / "curves.png"
    uri = f"sqlite:///{store / 'mlflow.db'}"
    result = _compare(["tiny", "--png", str(png), "--tracking-uri", uri])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[2].startswith("tiny-lstm") and f"{min(NLL['lstm']):.4f} (1)" in lines[2]
    assert lines[3].startswith("tiny-gru") and f"{min(NLL['gru']):.4f} (2)" in lines[3]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"wrote {png}" in result.output


def test_compare_finds_the_store_from_the_environment_or_the_working_folder(store, monkeypatch):
    uri = f"sqlite:///{store / 'mlflow.db'}"
    from_env = _compare(["tiny"], env={"MLFLOW_TRACKING_URI": uri})
    assert from_env.exit_code == 0 and "tiny-gru" in from_env.output
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(store)  # the embedded default: ./mlflow.db
    from_cwd = _compare(["tiny"])
    assert from_cwd.exit_code == 0 and "tiny-lstm" in from_cwd.output


def test_compare_of_an_unknown_experiment_is_one_line_and_exit_1(store):
    result = _compare(["no-such-thing", "--tracking-uri", f"sqlite:///{store / 'mlflow.db'}"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"mg: error: sqlite:///{store / 'mlflow.db'}: no run or experiment named 'no-such-thing'"
    ]


def test_compare_needs_at_least_one_run():
    assert _compare([]).exit_code == 2


def test_ui_refuses_a_port_in_use_and_a_remote_server(store):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["ui", "--port", str(port)])
    assert result.exit_code == 1 and f"port {port} on 127.0.0.1 is in use" in result.output
    remote = CliRunner().invoke(app, ["ui", "--tracking-uri", "http://127.0.0.1:1"])
    assert remote.exit_code == 1 and "is a tracking server already" in remote.output


@pytest.fixture
def mg_ui(store, tmp_path):
    """`mg ui` as a subprocess in the store's folder; stopped at the end whatever happens."""
    with _running_ui(store, tmp_path) as started:
        yield started


@contextlib.contextmanager
def _running_ui(store: Path, tmp_path: Path, *options: str):
    port = free_port()
    log = tmp_path / "mg-ui.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [MG, "ui", "--port", str(port), *options],
            cwd=store,
            env={k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc, port, log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # mg forwards it and waits for the server
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        for pid in _servers_on(port):  # the last resort if mg died before stopping its server
            with contextlib.suppress(ProcessLookupError):
                os.killpg(os.getpgid(pid), signal.SIGKILL)


def _servers_on(port: int) -> list[int]:
    """Pids of mlflow/uvicorn processes started with this port (read from /proc)."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            argv = cmdline.read_bytes().split(b"\0")
            if b"mlflow" in b" ".join(argv) and str(port).encode() in argv:
                pids.append(int(cmdline.parent.name))
    return pids


def _get(url: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def _runs_over_rest(address: str, experiment: str) -> list[dict]:
    """The runs of an experiment, read through MLflow's REST API as any HTTP client would."""
    api = f"{address}/api/2.0/mlflow"
    found = _get(f"{api}/experiments/get-by-name?experiment_name={experiment}")
    search = {"experiment_ids": [found["experiment"]["experiment_id"]]}
    return _get(f"{api}/runs/search", search)["runs"]


def _wait_for_runs(proc: subprocess.Popen, address: str, log: Path) -> list[dict]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            return _runs_over_rest(address, "tiny")
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"mg ui did not answer on {address}: {log.read_text()}")


def _wait_for_line(log: Path, line: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while line not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert line in log.read_text(), log.read_text()


def test_ui_serves_the_working_folders_store_and_stops_on_ctrl_c(mg_ui, store):
    proc, port, log = mg_ui
    runs = _wait_for_runs(proc, f"http://127.0.0.1:{port}", log)
    assert sorted(run["info"]["run_name"] for run in runs) == ["tiny-gru", "tiny-lstm"]
    _wait_for_line(log, f"ready: http://127.0.0.1:{port}")  # mg's own check may trail ours
    assert _servers_on(port)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0, log.read_text()
    assert log.read_text().rstrip().endswith("stopped")
    assert not port_in_use("127.0.0.1", port) and _servers_on(port) == []
    # MLflow's banners, warnings and access log stay out of it: mg's own four lines only
    address = f"http://127.0.0.1:{port}"
    assert log.read_text().splitlines() == [
        f"MLflow UI for sqlite:///{Path(store) / 'mlflow.db'}",
        f"starting on {address} (Ctrl-C to stop) ...",
        f"ready: {address}",
        "stopped",
    ]


def test_ui_shows_mlflows_own_output_with_verbose(store, tmp_path):
    with _running_ui(store, tmp_path, "--verbose") as (proc, port, log):
        _wait_for_runs(proc, f"http://127.0.0.1:{port}", log)
        _wait_for_line(log, f"ready: http://127.0.0.1:{port}")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, log.read_text()
    assert "/api/2.0/mlflow/runs/search" in log.read_text()  # uvicorn's access log


def test_ctrl_c_while_the_server_starts_leaves_nothing_behind(mg_ui):
    proc, port, log = mg_ui
    _wait_for_line(log, f"starting on http://127.0.0.1:{port}")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0, log.read_text()
    assert not port_in_use("127.0.0.1", port) and _servers_on(port) == []
