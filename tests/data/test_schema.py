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
