"""Schema 3's tensor columns: fixed_size_binary values read back as the arrays written, through
Parquet, slices and record batches; a version-2 tensor column is one DatasetError."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mg.data.schema import (
    SCHEMA_VERSION,
    TENSOR_COLUMNS,
    SegmentRow,
    arrow_schema,
    columns_table,
    segments_table,
    table_arrays,
    tensor_shapes,
)
from mg.errors import DatasetError
from mg.representation.grid import Grid

GRID = Grid(bars=2)


def rows(count: int) -> list[SegmentRow]:
    rng = np.random.default_rng(0)
    shapes = tensor_shapes(GRID)
    return [
        SegmentRow(
            notes=rng.integers(0, 128, shapes["notes"], dtype=np.uint8),
            context=rng.random(shapes["context"]).astype(np.float16),
            position=rng.integers(0, 40, shapes["position"], dtype=np.int16),
            piece_id=f"p{i}",
            source="s",
            tune=0,
            segment=i,
            transpose=0,
            abc=None,
        )
        for i in range(count)
    ]


def test_tensors_round_trip_through_parquet_slices_and_batches():
    written = rows(5)
    table = segments_table(written, GRID)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    read = pq.read_table(io.BytesIO(buffer.getvalue()))
    assert read.schema.metadata[b"mg.schema_version"] == str(SCHEMA_VERSION).encode()
    for source in (read, read.slice(2, 3), read.to_batches()[0].slice(2, 3)):
        arrays = table_arrays(source)
        offset = 0 if len(source) == 5 else 2
        for name in TENSOR_COLUMNS:
            expected = np.stack([getattr(r, name) for r in written[offset:]])
            assert arrays[name].dtype == expected.dtype
            np.testing.assert_array_equal(arrays[name], expected)
    empty = table_arrays(arrow_schema(GRID).empty_table())
    assert empty["notes"].shape == (0, *tensor_shapes(GRID)["notes"])


def test_a_row_group_of_several_parts_is_their_rows_one_after_the_other():
    written = rows(6)
    whole = segments_table(written, GRID)
    schema = arrow_schema(GRID)
    parts = [
        {
            name: whole.column(name).to_pylist()
            for name in schema.names
            if name not in TENSOR_COLUMNS
        }
        | {name: table_arrays(whole.slice(first, count), (name,))[name] for name in TENSOR_COLUMNS}
        for first, count in ((0, 1), (1, 0), (1, 5))
    ]
    for part, (first, count) in zip(parts, ((0, 1), (1, 0), (1, 5)), strict=True):
        for name in schema.names:
            if name not in TENSOR_COLUMNS:
                part[name] = part[name][first : first + count]
    table = columns_table(parts, schema)
    assert table.equals(whole)
    assert table.column("notes").num_chunks == 3  # a chunk a part: its bytes as they came
    assert columns_table([], schema).num_rows == 0


def test_a_version_2_tensor_column_says_to_re_ingest():
    shape = tensor_shapes(GRID)["notes"]
    old = pa.table(
        {"notes": pa.FixedShapeTensorArray.from_numpy_ndarray(np.zeros((1, *shape), np.uint8))}
    )
    with pytest.raises(DatasetError, match="re-ingest"):
        table_arrays(old, ("notes",))


def test_a_tensor_of_the_wrong_shape_is_refused_on_write():
    bad = rows(1)[0]
    wrong = SegmentRow(**{**bad.__dict__, "notes": bad.notes[:-1]})
    with pytest.raises(ValueError, match="notes"):
        segments_table([wrong], GRID)
