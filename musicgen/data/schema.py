"""The dataset's storage contract, schema version 1: one Parquet row per segment.

Tensors use Arrow's canonical `fixed_shape_tensor` extension type, which pyarrow writes to
Parquet and reads back with its shape: `notes` [T, α, 3] uint8, `context` [T, α, 3] float16,
`position` [T] int8 (the index within the bar; `representation.position_matrix` expands it).
Ingest writes with `segments_table`; the datasets read with `table_arrays`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from mg.errors import DatasetError
from mg.representation.context import CONTEXT_DTYPE
from mg.representation.grid import Grid

SCHEMA_VERSION = 1
SPLITS = ("train", "valid", "test")
MANIFEST = "manifest.json"
TENSOR_COLUMNS = ("notes", "context", "position")
META_COLUMNS = ("piece_id", "source", "tune", "segment", "transpose", "abc")


def arrow_schema(grid: Grid) -> pa.Schema:
    steps, alpha = grid.segment_steps, grid.alpha
    return pa.schema(
        [
            ("notes", pa.fixed_shape_tensor(pa.uint8(), [steps, alpha, 3])),
            (
                "context",
                pa.fixed_shape_tensor(pa.from_numpy_dtype(CONTEXT_DTYPE), [steps, alpha, 3]),
            ),
            ("position", pa.fixed_shape_tensor(pa.int8(), [steps])),
            ("piece_id", pa.string()),
            ("source", pa.string()),
            ("tune", pa.int32()),
            ("segment", pa.int32()),
            ("transpose", pa.int8()),
            ("abc", pa.string()),
        ],
        metadata={"mg.schema_version": str(SCHEMA_VERSION), "mg.grid": json.dumps(grid.to_dict())},
    )


@dataclass(frozen=True)
class SegmentRow:
    """One segment with its provenance, as ingest produces it."""

    notes: np.ndarray  # [T, α, 3] uint8
    context: np.ndarray  # [T, α, 3] float16
    position: np.ndarray  # [T] int8
    piece_id: str
    source: str
    tune: int
    segment: int
    transpose: int
    abc: str | None


def segments_table(rows: list[SegmentRow], grid: Grid) -> pa.Table:
    """Rows -> an Arrow table of the v1 schema (an empty list gives an empty table)."""
    schema = arrow_schema(grid)
    if not rows:
        return schema.empty_table()
    columns = {
        name: pa.FixedShapeTensorArray.from_numpy_ndarray(
            np.stack([getattr(r, name) for r in rows])
        )
        for name in TENSOR_COLUMNS
    }
    for name in META_COLUMNS:
        columns[name] = pa.array([getattr(r, name) for r in rows], type=schema.field(name).type)
    return pa.table(columns, schema=schema)


def table_arrays(
    table: pa.Table, columns: tuple[str, ...] = TENSOR_COLUMNS
) -> dict[str, np.ndarray]:
    """The tensor columns of a table (or record batch) as numpy arrays [rows, ...]."""
    out = {}
    for name in columns:
        column = table.column(name)
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        out[name] = column.to_numpy_ndarray()
    return out


def read_manifest(folder: str | Path) -> dict:
    """Load and check a dataset's manifest: it exists, and its schema version is ours."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise DatasetError(
            f"{folder}: no {MANIFEST} (not an ingested dataset, or an unfinished run)"
        )
    manifest = json.loads(path.read_text())
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise DatasetError(
            f"{folder}: dataset schema version {version}, this mg reads {SCHEMA_VERSION}"
        )
    return manifest


def manifest_grid(manifest: dict) -> Grid:
    return Grid.from_dict(manifest["grid"])
