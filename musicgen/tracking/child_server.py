"""A server run as a child process group, stopped with nothing left behind: `mg ui` runs
`mlflow server` on it, `mg serve` runs `mlflow models serve`.

The child starts in a new session (its own process group), so a Ctrl-C or a closed terminal
reaches it only through us: we send the server's own stop signal to its leader, wait for the
whole group (uvicorn and its workers) to exit, and kill what is left after a grace period. On
Linux the leader also gets SIGTERM if we die without a word (`kill -9`), so it never outlives us.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Protocol

from mg.errors import MgError

STOP_GRACE_S = 15.0
PR_SET_PDEATHSIG = 1


class ServerError(MgError):
    """A server that could not start, or stopped on its own."""


class ServerCommand(Protocol):
    """What starts a server and where it listens."""

    host: str
    port: int

    @property
    def address(self) -> str: ...

    def command(self) -> list[str]: ...


def http_address(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def start(
    spec: ServerCommand, log: IO[bytes] | int | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen:
    """Start the server in a new session (its own process group); not yet ready."""
    if port_in_use(spec.host, spec.port):
        raise ServerError(f"port {spec.port} on {spec.host} is in use: choose another with --port")
    return subprocess.Popen(
        spec.command(),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT if log is not None else None,
        start_new_session=True,
        preexec_fn=_parent_death_signal(),
    )


def _parent_death_signal() -> Callable[[], None] | None:
    """What the child runs before exec so that it gets SIGTERM when its parent dies (Linux).

    libc is loaded here, in the parent: between fork and exec the child only makes the call
    (loading a library there could deadlock on a lock another thread of ours held at the fork).
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except OSError:
        return None
    return lambda: prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def wait_ready(
    proc: subprocess.Popen, spec: ServerCommand, path: str = "/health", timeout_s: float = 90.0
) -> None:
    """Poll `path` until the server answers; a server that exits first is an error."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"the server on {spec.address} exited with code {proc.returncode}")
        if server_answers(spec.address, path):
            return
        time.sleep(0.2)
    raise ServerError(f"the server on {spec.address} did not answer within {timeout_s:.0f} s")


def server_answers(address: str, path: str = "/health", timeout_s: float = 2.0) -> bool:
    """Whether an HTTP server answers `GET path` at `address` (any status: a proxy asking for
    credentials still answers)."""
    try:
        with urllib.request.urlopen(address.rstrip("/") + path, timeout=timeout_s):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, grace_s: float = STOP_GRACE_S) -> int:
    """Signal the leader, wait for its whole group to exit, kill what is left after `grace_s`.

    Only the leader gets the signal: it passes it on (uvicorn would take a second one as "force
    quit" and print a traceback).
    """
    with suppress(ProcessLookupError):
        proc.send_signal(sig)
    started = time.monotonic()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        proc.wait()
    reap_group(proc.pid, grace_s - (time.monotonic() - started))
    return proc.returncode


def reap_group(pgid: int, grace_s: float = STOP_GRACE_S) -> None:
    """Wait up to `grace_s` for a group whose leader has exited to empty, then kill the rest."""
    deadline = time.monotonic() + max(grace_s, 0.0)
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    kill_group(pgid)


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def group_members(pgid: int) -> list[int]:
    """Live processes (zombies aside) of a process group; Linux reads /proc."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    members = []
    for stat in proc.glob("[0-9]*/stat"):
        with suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[2]) == pgid:  # state, ppid, pgrp
                members.append(int(stat.parent.name))
    return members


@contextmanager
def running(
    spec: ServerCommand,
    log: IO[bytes] | int | None = None,
    env: dict[str, str] | None = None,
    ready_path: str = "/health",
) -> Iterator[subprocess.Popen]:
    """A ready server for the block's duration, stopped (group and all) even when the block fails."""
    proc = start(spec, log, env)
    try:
        wait_ready(proc, spec, ready_path)
        yield proc
    finally:
        stop(proc)


def serve_until_signalled(
    proc: subprocess.Popen,
    spec: ServerCommand,
    announce: Callable[[], None],
    stop_signal: Callable[[int], int],
    signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP),
) -> int:
    """Run a started server until one of `signals`; 0 on a clean stop. `announce` waits for it
    to be ready and says so; `stop_signal(received)` is the signal its leader gets. A second
    signal kills the group without waiting."""
    stopping: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        stopping.append(signum)
        if len(stopping) > 1:
            kill_group(proc.pid)
        else:
            with suppress(ProcessLookupError):
                proc.send_signal(stop_signal(signum))

    previous = {sig: signal.signal(sig, forward) for sig in signals}
    try:
        try:
            announce()
        except ServerError:
            if not stopping:
                raise  # not ready and not interrupted while starting: an error
        return _wait_for_exit(proc, spec, stopping)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if proc.poll() is None:
            stop(proc)
        reap_group(proc.pid, STOP_GRACE_S if stopping else 0.0)


def _wait_for_exit(proc: subprocess.Popen, spec: ServerCommand, stopping: list[int]) -> int:
    deadline: float | None = None
    while proc.poll() is None:
        if stopping and deadline is None:
            deadline = time.monotonic() + STOP_GRACE_S
        if deadline is not None and time.monotonic() > deadline:
            kill_group(proc.pid)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.5)
    if not stopping:
        raise ServerError(f"the server on {spec.address} exited with code {proc.returncode}")
    return 0
