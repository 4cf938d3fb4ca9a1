"""A team's MLflow server, for real: `mlflow server` on a free loopback port, an LSTM and a GRU
`tiny` model trained against it over HTTP, one registered and generated from by alias, both runs
read back through the REST API and compared with `mg compare`.

The backend is SQLite in the default test run and PostgreSQL (Debian's `postgresql`, a throwaway
cluster on a free port) in `make test-integration`. Artifacts go through the server
(`--artifacts-destination`), as on a team server whose clients have no bucket credentials.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mg.cli.app import app
from mg.pipelines.ingest import ingest
from mg.pipelines.options import IngestConfig
from mg.representation import read_file
from mg.representation.grid import Grid
from mg.tracking.ui import ServerSpec, free_port, running_server
from mg.training.config import TrainRequest
from mg.training.train import TrainResult, train

GRID = Grid(bars=4, low=36, high=95)  # short segments, 60 pitches: a tiny epoch in a second
EXPERIMENT, MODEL = "backbones", "team-tunes"


@pytest.fixture(scope="module")
def dataset(folk_midi, tmp_path_factory) -> Path:
    """Twenty folk tunes through `mg ingest`'s pipeline (FnApiRunner, one worker)."""
    paths = sorted(folk_midi.glob("*.mid"))
    root = tmp_path_factory.mktemp("data") / "dataset"
    config = IngestConfig(
        inputs=tuple(str(p) for p in paths[:: len(paths) // 20][:20]),
        out=str(root),
        grid=GRID,
        transpose=(0, 0),
        workers=1,
    )
    assert ingest(config).manifest["splits"]["valid"]["segments"]
    return root


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)],
)
def server(request, tmp_path_factory) -> Iterator[dict]:
    """A real `mlflow server` on 127.0.0.1; its process group is stopped even when a test fails."""
    folder = tmp_path_factory.mktemp(f"server-{request.param}")
    with _backend(request.param, folder) as backend_uri:
        artifacts = folder / "artifacts"
        spec = ServerSpec(backend_uri, port=free_port(), artifacts_destination=str(artifacts))
        with (folder / "server.log").open("wb") as log, running_server(spec, log) as address:
            yield {"address": address, "artifacts": artifacts, "backend": backend_uri}


@contextmanager
def _backend(kind: str, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'mlflow.db'}"
    else:
        with postgres_cluster() as uri:
            yield uri


@pytest.fixture(scope="module")
def team(server, dataset) -> dict[str, TrainResult]:
    """Two users' runs over HTTP: an LSTM registered as MODEL (and evaluated), then a GRU."""
    runs = {
        backbone: train(_tiny(dataset, server["address"], backbone, register))
        for backbone, register in (("lstm", MODEL), ("gru", None))
    }
    evaluate = ["evaluate", "--model-uri", f"models:/{MODEL}@champion", "--data", str(dataset)]
    evaluate += ["--num", "1", "--tracking-uri", server["address"]]
    result = CliRunner().invoke(app, evaluate)
    assert result.exit_code == 0, result.output
    return runs


def _tiny(data: Path, uri: str, backbone: str, register: str | None) -> TrainRequest:
    return TrainRequest(
        data=data,
        preset="tiny",
        model_overrides={"backbone": backbone},
        train_overrides={"epochs": 3, "batch_size": 16, "lr": 0.01, "seed": 1, "samples": 0},
        experiment=EXPERIMENT,
        register=register,
        tracking_uri=uri,
    )


def _api(address: str, path: str, body: dict | None = None) -> dict:
    """MLflow's REST API, as any HTTP client (curl, another language) reads it."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(f"{address}/api/2.0/mlflow/{path}", data, headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def _runs(address: str) -> dict[str, dict]:
    experiment = _api(address, f"experiments/get-by-name?experiment_name={EXPERIMENT}")
    found = _api(
        address, "runs/search", {"experiment_ids": [experiment["experiment"]["experiment_id"]]}
    )
    return {run["info"]["run_id"]: run for run in found["runs"]}


def _history(address: str, run_id: str, key: str) -> list[tuple[int, float]]:
    """(epoch, value) of one metric, in epoch order."""
    found = _api(address, f"metrics/get-history?run_id={run_id}&metric_key={key}")
    return sorted((int(m["step"]), m["value"]) for m in found.get("metrics", []))


def test_both_runs_read_back_through_the_rest_api(server, team):
    runs = _runs(server["address"])
    assert set(runs) == {result.run_id for result in team.values()}
    for backbone, result in team.items():
        run = runs[result.run_id]
        tags = {tag["key"]: tag["value"] for tag in run["data"]["tags"]}
        params = {param["key"]: param["value"] for param in run["data"]["params"]}
        assert run["info"]["status"] == "FINISHED"
        assert tags["mg.backbone"] == backbone and params["model.backbone"] == backbone
        assert run["info"]["artifact_uri"].startswith("mlflow-artifacts:")  # through the server
        curve = _history(server["address"], result.run_id, "valid/nll_frame")
        assert len(curve) == result.epochs
        assert min(value for _, value in curve) == pytest.approx(result.best_value)
    assert any(server["artifacts"].rglob("model.safetensors"))  # landed in the shared store


def test_champion_generates_over_http(server, team, tmp_path, monkeypatch):
    assert team["lstm"].registered.champion
    # As in a teammate's fresh shell, where only MLFLOW_TRACKING_URI names the server.
    env = {"MLFLOW_TRACKING_URI": server["address"]}
    out = tmp_path / "out"
    uri = f"models:/{MODEL}@champion"
    result = CliRunner().invoke(
        app, ["generate", "--model-uri", uri, "--steps", "32", "--out", str(out)], env=env
    )
    assert result.exit_code == 0, result.output
    (midi,) = out.glob("*.mid")
    assert read_file(midi, GRID).pieces  # a MIDI file our own reader reads back


def test_compare_shows_both_runs_with_their_best_valid_and_test_nll(server, team, tmp_path):
    png = tmp_path / "curves.png"
    args = ["compare", EXPERIMENT, "--png", str(png), "--tracking-uri", server["address"]]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = {line.split()[2]: line.split() for line in result.output.splitlines()[2:4]}
    assert set(rows) == set(team)
    for backbone, run in team.items():
        curve = _history(server["address"], run.run_id, "valid/nll_frame")
        epoch, best = min(curve, key=lambda point: point[1])
        test = _history(server["address"], run.run_id, "test/nll_frame")  # from mg evaluate
        assert rows[backbone][3:6] == [
            f"{best:.4f}",
            f"({epoch})",
            f"{test[0][1]:.4f}" if test else "-",
        ]
    assert _history(server["address"], team["lstm"].run_id, "test/nll_frame")
    header = png.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", header[16:24])[0] > 400


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free loopback port; removed whatever happens.

    initdb refuses to run as root, so as root the cluster belongs to the `postgres` user (the
    Debian package creates it) and lives in a folder that user can reach.
    """
    bindir = _pg_bindir()
    as_user = {"user": "postgres"} if os.geteuid() == 0 else {}
    folder = Path(tempfile.mkdtemp(prefix="mg-postgres-"))
    if as_user:
        shutil.chown(folder, "postgres", "postgres")
    cluster, port = folder / "cluster", free_port()
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    try:
        _pg(as_user, bindir / "initdb", "-D", cluster, "-U", "mlflow", "--auth=trust", "--no-sync")
        _pg(
            as_user,
            bindir / "pg_ctl",
            "-D",
            cluster,
            "-l",
            folder / "log",
            "-o",
            options,
            "-w",
            "start",
        )
        _pg(as_user, bindir / "createdb", "-h", "127.0.0.1", "-p", port, "-U", "mlflow", "mlflow")
        yield f"postgresql://mlflow@127.0.0.1:{port}/mlflow"
    finally:
        stop = [bindir / "pg_ctl", "-D", cluster, "-m", "immediate", "-w", "stop"]
        subprocess.run([str(a) for a in stop], capture_output=True, **as_user)
        shutil.rmtree(folder, ignore_errors=True)


def _pg_bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    initdb = shutil.which("initdb") or (str(found[-1]) if found else None)
    assert initdb, "PostgreSQL is not installed: `make test-integration` installs it"
    return Path(initdb).resolve().parent


def _pg(as_user: dict, *command) -> None:
    done = subprocess.run([str(a) for a in command], capture_output=True, text=True, **as_user)
    assert done.returncode == 0, f"{Path(str(command[0])).name}: {done.stderr or done.stdout}"
