"""A server as a child process group (mg.tracking.child_server), on a real HTTP server that starts
in a blink (Python's http.server, with a worker process of its own, as uvicorn has): a signal
stops it with nothing left behind, a server deaf to its stop signal is killed after the grace
period, and a server never outlives the process that started it."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from mg.tracking import child_server

REPO = Path(__file__).resolve().parents[2]

# An HTTP server with a worker process that exits when the server does (as uvicorn's workers);
# `deaf` ignores SIGTERM.
SERVER = textwrap.dedent(
    """
    import http.server, os, signal, subprocess, sys
    WORKER = "import os, sys, time\\nwhile os.getppid() == int(sys.argv[1]): time.sleep(0.1)"
    if sys.argv[2] == "deaf":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(os.getpid())])
    http.server.test(http.server.SimpleHTTPRequestHandler, port=int(sys.argv[1]), bind="127.0.0.1")
    """
)


@dataclass(frozen=True)
class HttpServer:
    port: int
    mode: str = "plain"
    host: str = "127.0.0.1"

    @property
    def address(self) -> str:
        return child_server.http_address(self.host, self.port)

    def command(self) -> list[str]:
        return [sys.executable, "-c", SERVER, str(self.port), self.mode]


def wait_gone(pgid: int, timeout_s: float = 20.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while (members := child_server.group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return members


def test_running_stops_the_whole_group(tmp_path):
    spec = HttpServer(child_server.free_port())
    with child_server.running(spec, subprocess.DEVNULL, ready_path="/") as proc:
        assert child_server.server_answers(spec.address, "/")
        assert len(child_server.group_members(proc.pid)) == 2  # the server and its worker
    assert child_server.group_members(proc.pid) == []
    assert not child_server.port_in_use(spec.host, spec.port)


def test_a_server_deaf_to_its_stop_signal_is_killed_after_the_grace(tmp_path):
    spec = HttpServer(child_server.free_port(), "deaf")
    proc = child_server.start(spec, subprocess.DEVNULL)
    child_server.wait_ready(proc, spec, "/")
    started = time.monotonic()
    child_server.stop(proc, grace_s=1.0)
    assert time.monotonic() - started < 10
    assert proc.returncode == -signal.SIGKILL and child_server.group_members(proc.pid) == []


def test_a_port_in_use_is_one_clear_error():
    spec = HttpServer(child_server.free_port())
    in_use = pytest.raises(child_server.ServerError, match=f"port {spec.port} on 127.0.0.1")
    with child_server.running(spec, subprocess.DEVNULL, ready_path="/"), in_use:
        child_server.start(spec)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP, signal.SIGTERM])
def test_a_signal_to_the_parent_stops_the_server_and_leaves_nothing(sig, tmp_path):
    """The parent runs `serve_until_signalled`, as `mg serve` and `mg ui` do."""
    port = child_server.free_port()
    parent = textwrap.dedent(
        f"""
        import signal, subprocess, sys
        from mg.tracking import child_server
        sys.path.insert(0, {str(REPO)!r})
        from tests.tracking.test_child_server import HttpServer
        spec = HttpServer({port})
        proc = child_server.start(spec, subprocess.DEVNULL)
        print(proc.pid, flush=True)
        announce = lambda: (child_server.wait_ready(proc, spec, "/"), print("ready", flush=True))
        sys.exit(child_server.serve_until_signalled(proc, spec, announce, lambda s: signal.SIGTERM))
        """
    )
    runner = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True)
    server_pid = int(runner.stdout.readline())
    assert runner.stdout.readline().strip() == "ready"
    runner.send_signal(sig)
    assert runner.wait(timeout=30) == 0
    assert child_server.group_members(server_pid) == []


def test_the_server_never_outlives_its_parent(tmp_path):
    """`kill -9` of the parent: the kernel sends the server SIGTERM (Linux)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the parent-death signal is Linux's")
    port = child_server.free_port()
    parent = textwrap.dedent(
        f"""
        import subprocess, sys, time
        from mg.tracking import child_server
        sys.path.insert(0, {str(REPO)!r})
        from tests.tracking.test_child_server import HttpServer
        proc = child_server.start(HttpServer({port}), subprocess.DEVNULL)
        print(proc.pid, flush=True)
        time.sleep(600)
        """
    )
    runner = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True)
    server_pid = int(runner.stdout.readline())
    spec = HttpServer(port)
    deadline = time.monotonic() + 30
    while not child_server.server_answers(spec.address, "/") and time.monotonic() < deadline:
        time.sleep(0.1)
    runner.kill()
    runner.wait()
    assert wait_gone(server_pid) == []
