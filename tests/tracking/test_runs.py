"""Tracking stores: commands started together on a new SQLite store all get it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

CHILD = """
import sys, time
from pathlib import Path
from mg.tracking.runs import connect
folder = Path(sys.argv[1])
(folder / f"ready-{sys.argv[2]}").touch()
while not (folder / "go").exists():
    time.sleep(0.005)
connect(f"sqlite:///{folder / 'mlflow.db'}")
print("connected")
"""


def test_commands_started_together_on_a_new_sqlite_store_all_connect(tmp_path):
    """MLflow creates and migrates the tables on the first request; two processes doing it at
    once made one fail with "duplicate column name" (seen with two `mg train` started
    together). Two processes wait at a barrier and connect at the same moment."""
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(tmp_path), str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    (tmp_path / "go").touch()
    results = [child.communicate(timeout=180) for child in children]
    for child, (out, err) in zip(children, results, strict=True):
        assert child.returncode == 0 and "connected" in out, err[-2000:]
    assert Path(tmp_path / "mlflow.db").stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "go", "mlflow.db", "ready-0", "ready-1",
    ]  # fmt: skip
