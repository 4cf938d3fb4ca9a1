"""The spill's files: parked pieces found again by (file, offset, size), uint64 rows by column."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from mg.pipelines.spill import BlobReader, BlobWriter, RowSpill, read_rows
from mg.representation import read_bytes
from mg.representation.grid import Grid


def test_parked_pieces_come_back_from_any_file_in_any_order(tmp_path, folk_book):
    pieces = read_bytes(folk_book.read_bytes(), str(folk_book), Grid()).pieces[:8]
    blobs = [pickle.dumps(p, protocol=pickle.HIGHEST_PROTOCOL) for p in pieces] * 3
    where = []
    for part in range(6):  # more files than the reader keeps open
        writer = BlobWriter(str(tmp_path))
        for blob in blobs[part::6]:
            where.append((*writer.append(blob), len(blob), blob))
        writer.close()
    assert len({path for path, *_ in where}) == 6
    with BlobReader(keep_open=2) as reader:
        for path, offset, size, blob in reversed(where):
            assert reader.read(path, offset, size) == blob
        assert reader.read_all([w[:3] for w in reversed(where)]) == [w[3] for w in reversed(where)]
        back = pickle.loads(reader.read(*where[0][:3]))
    assert back.piece_id == pieces[0].piece_id
    assert np.array_equal(back.notes, pieces[0].notes)


def test_a_short_file_is_an_error_naming_it(tmp_path):
    writer = BlobWriter(str(tmp_path))
    path, offset = writer.append(b"x" * 100)
    writer.close()
    with open(path, "r+b") as handle:
        handle.truncate(60)
    with (
        BlobReader() as reader,
        pytest.raises(OSError, match=r"\.bin: 100 bytes at 0 expected, 60 found"),
    ):
        reader.read(path, offset, 100)


def test_rows_added_as_columns_are_the_rows_added_one_by_one(tmp_path):
    names = ("phrase", "piece", "group")
    rng = np.random.default_rng(5)
    by_rows = RowSpill(str(tmp_path / "rows"), names, batch_rows=7)
    by_columns = RowSpill(str(tmp_path / "columns"), names, batch_rows=7)
    files = {"rows": set(), "columns": set()}
    for count in (3, 0, 9, 1, 0, 12):
        hashes = rng.integers(0, 2**64, count, dtype=np.uint64)
        piece, group = (int(v) for v in rng.integers(0, 2**64, 2, dtype=np.uint64))
        files["rows"].update(by_rows.add((int(h), piece, group)) for h in hashes)
        files["columns"].add(by_columns.add_columns(hashes, piece, group))
        with pytest.raises(ValueError, match="columns of 2 and 3 rows"):  # nothing added
            by_columns.add_columns(np.zeros(2, np.uint64), np.zeros(3, np.uint64), 7)
    by_rows.close()
    by_columns.close()
    rows, columns = (sorted(found - {None}) for found in files.values())
    for left, right in zip(read_rows(rows, names), read_rows(columns, names), strict=True):
        assert left.dtype == right.dtype == np.uint64
        assert np.array_equal(left, right) and len(left) == 25
