"""Resuming a run safely: one process per run, on the run's own dataset.

A run holds a lock named after its id (an exclusive flock on `<tmp>/mg-runs/<run id>.lock`,
holding the owner's pid) while it trains; `--resume` takes the same lock first, so resuming a
run that is still training is refused, while a run killed by `kill -9` (whose lock the kernel
released) resumes. MLflow's status cannot tell the two apart: both read RUNNING. The lock is
per machine; on a team server two machines resuming one run are the users' care.

`--resume RUN_ID` needs no `--data`: the run recorded its dataset's path and manifest hash, and
a `--data` whose manifest differs from the recorded one is refused.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlflow.exceptions import MlflowException

from mg.data.schema import MANIFEST
from mg.errors import DatasetError, MgError
from mg.locks import pid_lock

PATH_TAG = "mg.dataset_path"
SHA_TAG = "mg.dataset_manifest_sha256"


class RunBusyError(MgError):
    """The run is being trained by another process."""


def lock_folder() -> Path:
    return Path(tempfile.gettempdir()) / "mg-runs"


@contextmanager
def run_lock(run_id: str) -> Iterator[None]:
    """Hold the run's lock for the block; RunBusyError when another live process holds it."""
    folder = lock_folder()
    folder.mkdir(parents=True, exist_ok=True)
    busy = lambda owner: RunBusyError(  # noqa: E731
        f"--resume {run_id}: the run is still training (pid {owner}); "
        "wait for it to end or stop it, then resume"
    )
    with pid_lock(folder / f"{run_id}.lock", busy):
        yield


def resumed_data(client, run_id: str, given: Path | None) -> Path:
    """The dataset to resume `run_id` on: `given`, else the one the run recorded."""
    recorded = _tags(client, run_id).get(PATH_TAG)
    if given is not None:
        return Path(given)
    if not recorded:
        raise DatasetError(f"--resume {run_id}: the run records no dataset; pass --data")
    return Path(recorded)


def check_same_manifest(client, run_id: str, data: Path) -> None:
    """The dataset's manifest must be the one the run trained on (checked after the grid, whose
    mismatch says more)."""
    tags = _tags(client, run_id)
    recorded, recorded_sha = tags.get(PATH_TAG), tags.get(SHA_TAG)
    manifest = Path(data) / MANIFEST
    if not recorded_sha or not manifest.is_file():
        return
    sha = hashlib.sha256(manifest.read_bytes()).hexdigest()
    if sha != recorded_sha:
        raise DatasetError(
            f"{data}: not the dataset run {run_id} trained on (manifest sha256 "
            f"{sha[:12]}…, the run's {recorded_sha[:12]}… at {recorded}); "
            "resume without --data, or start a new run"
        )


def _tags(client, run_id: str) -> dict[str, str]:
    try:
        return client.get_run(run_id).data.tags
    except MlflowException:
        raise DatasetError(f"--resume {run_id}: no such run") from None
