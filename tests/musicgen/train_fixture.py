"""A real ingested dataset for the trainer tests: ~20 Nottingham MIDI tunes through `mg ingest`.

The ingest pipeline runs in this process (Beam's FnApiRunner, one worker), on a small grid
(4-bar segments, 60 pitches, no transposition) so a `tiny` model trains an epoch in about a
second; two shards per split, so two torchrun processes each get their share of the train split.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from mg.pipelines.ingest import ingest
from mg.pipelines.options import IngestConfig
from mg.representation.grid import Grid

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "nottingham" / "MIDI"
GRID = Grid(bars=4, low=36, high=95)
FILES = 20


def build_train_dataset(root: Path, grid: Grid = GRID, files: int = FILES) -> Path:
    """Ingest `files` tunes spread over the collection into `root` (kept when already there)."""
    if (root / "manifest.json").is_file():
        return root
    paths = sorted(DATA.glob("*.mid"))
    assert paths, f"the shared corpus is missing: {DATA}"
    chosen = paths[:: len(paths) // files][:files]
    config = IngestConfig(
        inputs=tuple(str(p) for p in chosen),
        out=str(root),
        grid=grid,
        transpose=(0, 0),
        shards=2,
        workers=1,
    )
    splits = ingest(config).manifest["splits"]
    assert splits["train"]["segments"] and splits["valid"]["segments"], splits
    return root


def session_folder(tmp_path_factory) -> Path:
    """One folder per test session shared by every trainer test module (built once)."""
    folder = tmp_path_factory.getbasetemp() / "mg-train"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def train_data(tmp_path_factory) -> Path:
    return build_train_dataset(session_folder(tmp_path_factory) / "dataset")


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory) -> str:
    """A real SQLite MLflow store; creating its tables is slow, so the session shares one."""
    from mg.tracking import runs as tracking

    uri = f"sqlite:///{session_folder(tmp_path_factory) / 'mlflow.db'}"
    tracking.connect(uri)
    return uri


@pytest.fixture(scope="module")
def in_store(mlflow_store: str, tmp_path_factory) -> Iterator[str]:
    """Run in the store's folder (MLflow puts new experiments' artifacts under ./mlruns) on one
    CPU thread (two threads on a loaded 2-core machine are slower, and subprocesses use one)."""
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(session_folder(tmp_path_factory))
        torch.set_num_threads(1)
        yield mlflow_store
    torch.set_num_threads(threads)


def cpu_env(**extra: str) -> dict[str, str]:
    """The environment of an `mg` subprocess: one CPU thread (as in-process runs), no bar."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CI": "1", **extra}


ABC_FILE = DATA.parent / "ABC_cleaned" / "ashover.abc"  # 46 tunes


@pytest.fixture(scope="session")
def abc_data(tmp_path_factory) -> Path:
    """The tunes of one Nottingham ABC file through `mg ingest` (rows keep their ABC text)."""
    root = session_folder(tmp_path_factory) / "abc-dataset"
    if not (root / "manifest.json").is_file():
        config = IngestConfig(
            inputs=(str(ABC_FILE),), out=str(root), grid=GRID, transpose=(0, 0), workers=1
        )
        ingest(config)
    return root
