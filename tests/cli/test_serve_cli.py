"""`mg serve` as a user runs it: MLflow's real scoring server on 127.0.0.1 serving the tiny model
registered in a real SQLite store (tests/fixtures/generation.py), asked over HTTP, and stopped
with a signal, nothing left behind."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mg.cli.app import app
from mg.tracking.child_server import free_port, group_members

MG = str(Path(sys.executable).parent / "mg")


@dataclass
class Served:
    proc: subprocess.Popen
    address: str
    uri: str
    store: str
    log: Path


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (from /proc's parent links)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    still = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            still.add(pid)
    return still


def start_serving(uri: str, store: str, log: Path) -> Served:
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CI": "1"}
    command = [MG, "serve", "--model-uri", uri, "--port", str(port), "--tracking-uri", store]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    served = Served(proc, f"http://127.0.0.1:{port}", uri, store, log)
    deadline = time.monotonic() + 180
    while "ready:" not in log.read_text():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    return served


def post(address: str, body: object) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{address}/invocations",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def served(model_store, tmp_path_factory) -> Iterator[Served]:
    uri = f"models:/{model_store.name}@champion"
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    served = start_serving(uri, model_store.uri, log)
    yield served
    if served.proc.poll() is None:
        served.proc.send_signal(signal.SIGINT)
        served.proc.wait(timeout=60)


def test_serve_prints_the_address_and_a_curl_that_works(served):
    output = served.log.read_text()
    assert f"ready: {served.address}/invocations" in output
    curl = next(line for line in output.splitlines() if line.startswith("curl "))
    assert f"{served.address}/invocations" in curl
    body = json.loads(curl.split(" -d '", 1)[1].split("'", 1)[0])
    status, answer = post(served.address, body)
    assert status == 200 and answer["predictions"][0]["midi"]


def test_a_seed_answers_the_midi_mg_generate_writes(served, tmp_path):
    status, answer = post(served.address, {"inputs": [{"seed": 5, "steps": 48, "num": 2}]})
    assert status == 200
    pieces = answer["predictions"]
    out = tmp_path / "out"
    args = ["generate", "--model-uri", served.uri, "--tracking-uri", served.store]
    args += ["--seed", "5", "--steps", "48", "--num", "2", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    files = sorted(out.glob("*.mid"))
    assert [p.name[-6:] for p in files] == ["-0.mid", "-1.mid"]
    assert [base64.b64decode(p["midi"]) for p in pieces] == [f.read_bytes() for f in files]
    assert all(p["notes"] and p["options"]["seed"] == 5 for p in pieces)


def test_a_primer_in_base64_midi_is_read(served, generation_corpus):
    primer = base64.b64encode(generation_corpus.midi[0].read_bytes()).decode()
    status, answer = post(served.address, {"inputs": [{"steps": 16, "primer": primer}]})
    assert status == 200
    (piece,) = answer["predictions"]
    assert piece["steps"] == piece["options"]["primer_length"] + 16


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"inputs": [{"steps": -1}]}, "steps: input should be greater than or equal to 1"),
        ({"inputs": [{"seed": 1, "bpm": 90}]}, "unknown option 'bpm'"),
        ({"inputs": [{"primer": "not music at all"}]}, "primer: neither ABC text"),
        ({"inputs": [{"primer": base64.b64encode(b"GIF89a...").decode()}]}, "no MThd header"),
    ],
)
def test_a_bad_request_is_a_400_in_one_line(served, body, words):
    status, answer = post(served.address, body)
    assert status == 400
    message = answer["message"]
    assert words in message and "\n" not in message and "Traceback" not in json.dumps(answer)


def test_sighup_stops_the_server_and_leaves_no_process(served):
    """Last in the module: it stops the module's server."""
    children = descendants(served.proc.pid)
    assert children, "mg serve runs mlflow models serve (and uvicorn) as children"
    groups = {os.getpgid(pid) for pid in children}
    served.proc.send_signal(signal.SIGHUP)
    assert served.proc.wait(timeout=60) == 0
    assert "stopped" in served.log.read_text()
    assert alive(children) == set()
    assert all(group_members(group) == [] for group in groups)
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{served.address}/ping", timeout=2)


def test_a_model_that_cannot_be_served_is_one_line(tiny_model, model_store):
    cases = {
        str(tiny_model[1]): "not a logged MLflow model",  # a bare mg folder has no MLmodel
        f"models:/{model_store.name}@nope": "alias nope not found",
        "missing-folder": "no such model folder",
    }
    for uri, words in cases.items():
        args = ["serve", "--model-uri", uri, "--port", "0", "--tracking-uri", model_store.uri]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("mg: error:") and words in lines[0]
