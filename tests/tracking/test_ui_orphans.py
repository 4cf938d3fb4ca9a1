"""`mg ui` killed the ways a user kills it (issue 18): a closed terminal (SIGHUP) and kill -9
leave no MLflow server holding the port. A real `mg ui`, a real `mlflow server`."""

from __future__ import annotations

import signal
import time

import pytest

from mg.tracking.ui import port_in_use
from tests.cli.test_ui_compare_cli import _running_ui, _servers_on, _wait_for_line, store

__all__ = ["store"]  # the fixture: a SQLite store with two runs


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGKILL])
def test_the_server_goes_with_mg_ui(store, tmp_path, sig):
    with _running_ui(store, tmp_path) as (proc, port, log):
        _wait_for_line(log, f"ready: http://127.0.0.1:{port}", timeout_s=180)
        assert _servers_on(port) and port_in_use("127.0.0.1", port)
        proc.send_signal(sig)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while (_servers_on(port) or port_in_use("127.0.0.1", port)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _servers_on(port) == [], log.read_text()
        assert not port_in_use("127.0.0.1", port)
