"""Project-wide fixtures: one BLAS thread, a model cache in tmp, the grid, the optional shared data.

The suite's own data is what installed packages ship (music21's corpus: ABC folk tunes, Bach
chorales; see tests/fixtures/corpora.py). The shared data (the Nottingham MIDI/ABC collection
and the polyphonic benchmark's .mat files) lives outside the repository, in $MG_SHARED_DATA,
else in ../shared/data beside the checkout (the default of MG_SHARED_DATA). Tests that need it
ask for `shared_data` (or `nottingham`, `polyphonic`) and skip with one line when it is absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mg.data import corpus
from mg.representation.grid import Grid
from mg.representation.position import BEAT_ROWS, METERS, step_rows

pytest_plugins = [
    "tests.fixtures.corpora",
    "tests.fixtures.training",
    "tests.fixtures.generation",
]

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """Where the shared data would be: $MG_SHARED_DATA, else its default beside the checkout."""
    return corpus.shared_data_dir(REPO)


def _shared(*parts: str) -> Path:
    folder = shared_data_dir().joinpath(*parts)
    if not folder.is_dir():
        pytest.skip(f"needs the shared data: no {folder} (set MG_SHARED_DATA)")
    return folder


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder; the test skips when it is absent."""
    return _shared()


@pytest.fixture(scope="session")
def nottingham() -> Path:
    """The Nottingham collection (MIDI/ and ABC_cleaned/); skips when absent."""
    return _shared("nottingham")


@pytest.fixture(scope="session")
def polyphonic() -> Path:
    """The polyphonic benchmark's .mat files; skips when absent."""
    return _shared("polyphonic")


@pytest.fixture(scope="session")
def grid() -> Grid:
    return Grid()


@pytest.fixture(scope="session")
def positions():
    """Stored P_t codes [n, 3] -> (step within the beat, beat within the bar, meter) of each
    step: the inverse of `position_codes`, so that tests state positions as musicians count."""

    def decode(codes: np.ndarray, grid: Grid) -> list[tuple[int, int, str]]:
        offset = step_rows(grid.steps_per_beat)
        return [
            (int(step), int(beat) - offset, METERS[int(meter) - offset - BEAT_ROWS])
            for step, beat, meter in np.asarray(codes).reshape(-1, 3)
        ]

    return decode


@pytest.fixture(autouse=True, scope="session")
def model_cache_in_tmp(tmp_path_factory):
    """Downloaded model versions (mg.tracking.model_cache) go to a folder of the session, never
    to the user's ~/.cache: $MG_CACHE_DIR is set for the tests and the commands they start."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MG_CACHE_DIR", str(tmp_path_factory.mktemp("mg-cache")))
        yield


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Tiny models on a shared 2-core machine run several times faster on one thread than with
    OpenMP's threads fighting over the cores; every test runs on one."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
