"""The benchmark's files: the real shared .mat copies, and pickled dicts read without trust."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from mg.errors import DatasetError
from mg.evaluation.polyphonic.loaders import find_dataset, load, restricted_loads

POLYPHONIC = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "polyphonic"


@pytest.mark.parametrize(
    ("name", "sizes"), [("jsb", (229, 76, 77)), ("nottingham", (694, 173, 170))]
)
def test_shared_mat_files_load_as_binary_rolls_of_88_pitches(name, sizes):
    splits = load(find_dataset(name, [POLYPHONIC]))
    assert splits.sizes() == sizes
    for roll in splits.train + splits.valid + splits.test:
        assert roll.ndim == 2 and roll.shape[1] == 88 and roll.shape[0] > 0
        assert roll.dtype == np.uint8 and roll.max() <= 1
    assert splits.frames("train") > 0 and splits.dropped_notes == 0


def test_pickled_dict_of_pitch_lists_becomes_rolls(tmp_path):
    data = {
        "train": [[[60, 64, 67], [], [21, 108]], [[62]]],
        "valid": [[[48, 55]]],
        "test": [[[20, 60, 109]]],  # 20 and 109 lie outside the 88 keys
    }
    path = tmp_path / "tiny.pickle"
    path.write_bytes(pickle.dumps(data, protocol=2))
    splits = load(path)
    assert splits.sizes() == (2, 1, 1)
    first = splits.train[0]
    assert first.shape == (3, 88)
    assert np.flatnonzero(first[0]).tolist() == [60 - 21, 64 - 21, 67 - 21]
    assert first[1].sum() == 0 and np.flatnonzero(first[2]).tolist() == [0, 87]
    assert np.flatnonzero(splits.test[0][0]).tolist() == [60 - 21]
    assert splits.dropped_notes == 2


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("touch should-not-exist",))


def test_restricted_unpickler_refuses_a_global_without_running_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    payload = pickle.dumps({"train": [_RunsCode()], "valid": [], "test": []})
    with pytest.raises(pickle.UnpicklingError, match="refused global .*system"):
        restricted_loads(payload)
    (tmp_path / "evil.pickle").write_bytes(payload)
    with pytest.raises(DatasetError, match="evil.pickle"):
        load(tmp_path / "evil.pickle")
    assert not (tmp_path / "should-not-exist").exists()


def test_a_pickle_of_the_wrong_shape_is_one_clear_error(tmp_path):
    path = tmp_path / "wrong.pkl"
    path.write_bytes(pickle.dumps({"train": [[["C4"]]], "valid": [], "test": []}))
    with pytest.raises(DatasetError, match=r"wrong.pkl: train\[0\] frame 0 holds 'C4'"):
        load(path)


def test_missing_named_dataset_says_where_it_looked(tmp_path):
    with pytest.raises(DatasetError, match="no musedata benchmark file"):
        find_dataset("musedata", [tmp_path])
