"""A piece's pickled form (`PackedNotes`) and its id: what ingest moves between processes."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

from mg.data.corpus import bach_chorales
from mg.representation import read_file
from mg.representation.packed import PackedNotes


@pytest.fixture(scope="module")
def chorale(grid):
    return read_file(bach_chorales()[3], grid).pieces[0]


def test_any_matrix_unpacks_bit_for_bit():
    rng = np.random.default_rng(7)
    for shape, dtype in (((301, 88, 3), np.uint8), ((17, 88), np.float16), ((0, 88, 3), np.uint8)):
        matrix = rng.integers(0, 256, size=shape).astype(dtype)
        matrix[rng.random(shape) < 0.9] = 0  # as sparse as music, and every value besides
        again = PackedNotes.of(matrix).unpack()
        assert again.dtype == matrix.dtype and again.shape == matrix.shape
        np.testing.assert_array_equal(again, matrix)
    strided = rng.integers(0, 2, size=(40, 88, 3), dtype=np.uint8)[::2]  # not contiguous
    np.testing.assert_array_equal(PackedNotes.of(strided).unpack(), strided)


def test_a_pickled_piece_is_its_notes_packed_and_comes_back_whole(chorale):
    piece_id, group = chorale.piece_id, chorale.group  # cached before pickling, as ingest does
    blob = pickle.dumps(chorale, protocol=pickle.HIGHEST_PROTOCOL)
    assert len(blob) * 10 < chorale.notes.nbytes  # the dense matrix does not travel
    again = pickle.loads(blob)
    np.testing.assert_array_equal(again.notes, chorale.notes)
    for field in dataclasses.fields(chorale):
        if field.name != "notes":
            assert getattr(again, field.name) == getattr(chorale, field.name), field.name
    assert (again.__dict__["piece_id"], again.__dict__["group"]) == (piece_id, group)
    # pickled again it is the same bytes (the packed form is kept, not made again) …
    assert pickle.dumps(again, protocol=pickle.HIGHEST_PROTOCOL) == blob
    # … which holds only while its notes cannot change under it
    with pytest.raises(ValueError, match="read-only"):
        again.notes[0, 0, 0] = 1


def test_piece_id_is_the_content(chorale, grid):
    same = dataclasses.replace(chorale, source="elsewhere.mid", title="another name")
    assert same.piece_id == chorale.piece_id
    assert len(chorale.piece_id) == 16 and int(chorale.piece_id, 16) >= 0
    louder = chorale.notes.copy()
    louder[..., 2][louder[..., 2] > 0] += 1  # the same notes, one velocity step louder
    assert dataclasses.replace(chorale, notes=louder).piece_id != chorale.piece_id
    longer = np.concatenate([chorale.notes, np.zeros_like(chorale.notes[:1])])  # a silent step
    assert dataclasses.replace(chorale, notes=longer).piece_id != chorale.piece_id
    flat = np.ascontiguousarray(chorale.notes).reshape(len(chorale.notes), -1, 1)
    assert dataclasses.replace(chorale, notes=flat).piece_id != chorale.piece_id  # same bytes
