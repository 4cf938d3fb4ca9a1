"""The dataset's storage contract, schema version 3: one Parquet row per segment.

Each tensor is one `fixed_size_binary` value: the array's bytes, C order, with its dtype and
shape in the field's metadata (`mg.dtype`, `mg.shape`). Version 2 stored Arrow's
`fixed_shape_tensor` (a fixed-size list): Parquet wrote each of a row's 135k values with its
levels, 7x slower to write and 10x to read, and 35% larger. The tensors:

    notes     [T, α, 3] uint8     pressed, articulated, velocity (0..127)
    context   [T, α, 3] float16   the causal context C_t (`representation.context`)
    position  [T, 3] int16        the rows of the three ones of P_t: step within the beat,
                                  beat within the bar, meter (`representation.position`);
                                  `position_matrix` / `models.layers.position_one_hot` expand it

and per row: `piece_id` (content hash of the tune on the grid: exact copies share it),
`group` (its split group, which chose the split: tunes sharing a phrase of the top line in
any key or tempo are one group, named by the smallest opening fingerprint among them; see
`mg.pipelines.groups`), `source`, `tune` (index within a multi-tune file), `segment` (index
within the piece), `start` (the piece's step where the segment starts: always a bar line), `meter` (the
time signature at that step, e.g. "6/8"), `transpose` (semitones), `abc` (the tune's text, ABC
sources only). T = ε·ζ·η steps; a segment starts on a bar line of the piece's own meter, so
consecutive segments of a piece not in ζ/4 share the bar that crosses the first one's end.

Version 1 (before meters) had `position` [T] int8, the step index within a ζ/4 bar, and no
`group`, `start` or `meter`. Versions 1 and 2 are refused with a line that says to re-ingest.
Ingest writes with `columns_table` (`columns_batch`, `segments_table` for rows); the datasets
read with `table_arrays`.
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

SCHEMA_VERSION = 3
SPLITS = ("train", "valid", "test")
MANIFEST = "manifest.json"
TENSOR_COLUMNS = ("notes", "context", "position")
TENSOR_DTYPES = {"notes": np.uint8, "context": CONTEXT_DTYPE, "position": np.int16}
META_COLUMNS = (
    "piece_id", "group", "source", "tune", "segment", "start", "meter", "transpose", "abc",
)  # fmt: skip


def tensor_shapes(grid: Grid) -> dict[str, tuple[int, ...]]:
    """The shape of one row's value of each tensor column."""
    steps, alpha = grid.segment_steps, grid.alpha
    return {"notes": (steps, alpha, 3), "context": (steps, alpha, 3), "position": (steps, 3)}


def tensor_field(name: str, shape: tuple[int, ...]) -> pa.Field:
    dtype = np.dtype(TENSOR_DTYPES[name])
    metadata = {"mg.dtype": dtype.name, "mg.shape": json.dumps(list(shape))}
    width = int(np.prod(shape)) * dtype.itemsize
    return pa.field(name, pa.binary(width), nullable=False, metadata=metadata)


def arrow_schema(grid: Grid) -> pa.Schema:
    tensors = [tensor_field(name, shape) for name, shape in tensor_shapes(grid).items()]
    return pa.schema(
        [
            *tensors,
            ("piece_id", pa.string()),
            ("group", pa.string()),
            ("source", pa.string()),
            ("tune", pa.int32()),
            ("segment", pa.int32()),
            ("start", pa.int32()),
            ("meter", pa.string()),
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
    position: np.ndarray  # [T, 3] int16
    piece_id: str
    source: str
    tune: int
    segment: int
    transpose: int
    abc: str | None
    group: str = ""  # the split group (`mg.pipelines.groups`); piece_id when not given
    start: int = 0
    meter: str = "4/4"


def segments_table(rows: list[SegmentRow], grid: Grid) -> pa.Table:
    """Rows -> an Arrow table of the v3 schema (an empty list gives an empty table)."""
    if not rows:
        return arrow_schema(grid).empty_table()
    columns: dict[str, np.ndarray | list] = {
        name: np.stack([getattr(r, name) for r in rows]) for name in TENSOR_COLUMNS
    }
    for name in META_COLUMNS:
        columns[name] = [getattr(r, name) for r in rows]
    columns["group"] = [r.group or r.piece_id for r in rows]
    return pa.Table.from_batches([columns_batch(columns, arrow_schema(grid))])


def columns_batch(columns: dict[str, np.ndarray | list], schema: pa.Schema) -> pa.RecordBatch:
    """Stacked tensors [rows, ...] and lists of the other values -> one record batch of the
    v3 `schema`; the tensor bytes are not copied when C-contiguous. Ingest's writer builds its
    batches with this, `segments_table` too."""
    arrays = [
        pa.array(columns[name], type=field.type)
        if layout is None
        else tensor_array(np.asarray(columns[name]), field, layout)
        for name, field, layout in _schema_fields(schema)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def columns_table(parts: list[dict[str, np.ndarray | list]], schema: pa.Schema) -> pa.Table:
    """Several `columns_batch` inputs (ingest's writer: a piece's rows each) -> one table of
    `schema`: a tensor column one chunk a part, its bytes not copied (a Parquet page a piece, as
    `columns_batch`'s batches gave), every other column one array of all the parts' values
    (~4 us a conversion: a row group's nine, not a piece's)."""
    arrays = [
        pa.array([value for part in parts for value in part[name]], type=field.type)
        if layout is None
        else pa.chunked_array(
            [tensor_array(np.asarray(part[name]), field, layout) for part in parts], field.type
        )
        for name, field, layout in _schema_fields(schema)
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


_SCHEMA_FIELDS: dict[int, tuple[pa.Schema, list]] = {}


def _schema_fields(schema: pa.Schema) -> list[tuple[str, pa.Field, tuple | None]]:
    """(name, field, the tensor's dtype and shape or None) of each field of `schema`, read
    once per schema object (a writer passes the same one with every batch: its metadata's JSON
    is not parsed again each time)."""
    found = _SCHEMA_FIELDS.get(id(schema))
    if found is None or found[0] is not schema:  # the schema is held: its id is not reused
        if len(_SCHEMA_FIELDS) >= 64:
            _SCHEMA_FIELDS.clear()
        fields = [
            (f.name, f, field_tensor(f) if f.name in TENSOR_COLUMNS else None) for f in schema
        ]
        found = _SCHEMA_FIELDS[id(schema)] = (schema, fields)
    return found[1]


def tensor_array(
    values: np.ndarray, field: pa.Field, layout: tuple[np.dtype, tuple[int, ...]] | None = None
) -> pa.Array:
    """[rows, *shape] -> one fixed_size_binary value per row (the bytes, no copy when C order).
    `layout` is the field's `field_tensor`, when the caller has it."""
    dtype, shape = field_tensor(field) if layout is None else layout
    if values.dtype != dtype or values.shape[1:] != shape:
        raise ValueError(
            f"{field.name}: {values.dtype} {values.shape[1:]}, expected {dtype} {shape}"
        )
    data = np.ascontiguousarray(values)
    return pa.FixedSizeBinaryArray.from_buffers(field.type, len(data), [None, pa.py_buffer(data)])


def field_tensor(field: pa.Field) -> tuple[np.dtype, tuple[int, ...]]:
    """The dtype and row shape a tensor column's metadata records."""
    metadata = field.metadata or {}
    if b"mg.dtype" not in metadata or b"mg.shape" not in metadata:
        raise DatasetError(
            f"column {field.name!r} is not a schema-{SCHEMA_VERSION} tensor (type {field.type}); "
            "re-ingest the corpus with `mg ingest`"
        )
    return np.dtype(metadata[b"mg.dtype"].decode()), tuple(json.loads(metadata[b"mg.shape"]))


def table_arrays(
    table: pa.Table, columns: tuple[str, ...] = TENSOR_COLUMNS
) -> dict[str, np.ndarray]:
    """The tensor columns of a table (or record batch) as numpy arrays [rows, ...], read-only
    views of Arrow's buffers."""
    out = {}
    for name in columns:
        dtype, shape = field_tensor(table.schema.field(name))
        column = table.column(name)
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if column.null_count:
            raise DatasetError(f"column {name!r} has {column.null_count} null tensors")
        if not len(column):
            out[name] = np.zeros((0, *shape), dtype)
            continue
        width = column.type.byte_width
        data = column.buffers()[1]
        flat = np.frombuffer(data, np.uint8, len(column) * width, column.offset * width)
        out[name] = flat.view(dtype).reshape((len(column), *shape))
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
            f"{folder}: dataset schema version {version}, this mg reads {SCHEMA_VERSION}; "
            f"re-ingest the corpus with `mg ingest ... --out {folder}`"
        )
    return manifest


def manifest_grid(manifest: dict) -> Grid:
    return Grid.from_dict(manifest["grid"])
