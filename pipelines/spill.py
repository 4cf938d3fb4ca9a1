"""The spill: parsed pieces wait in files between parsing and the shard writers.

Tensors never go through a Beam shuffle (a local runner keeps shuffled data in memory); each
bundle of the parse stage appends its pieces to a file of its own (`BlobWriter`: each piece
pickled, its notes packed, found again by offset and size), and the shard writer reads each
back. The (phrase, piece) rows that join split groups are spilled in Arrow IPC files
(`RowSpill`: uint64 columns, a batch per few thousand pieces), and so are the facts about each
piece that the plan of the shards needs (`TableSpill`: a row a piece, any Arrow columns) and
the plan itself (a record batch of `PieceRef` rows a shard); only the files' names, and (file,
batch) a shard, travel on.
Works on any Beam filesystem (local, gs://, s3://).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import uuid
from array import array
from collections import OrderedDict

import numpy as np
import pyarrow as pa
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

_UNCOMPRESSED = CompressionTypes.UNCOMPRESSED

# Arrow's thread pool would compress or decompress a batch's one buffer on another thread while
# this one waits: ~5 context switches a batch and a third more CPU than doing it here (a piece
# pickled dense, ~130 KB: 0.30 -> 0.22 ms written, 0.14 -> 0.11 read).
_IPC_OPTIONS = pa.ipc.IpcWriteOptions(compression="zstd", use_threads=False)
_READ_OPTIONS = pa.ipc.IpcReadOptions(use_threads=False)
_FIRST_COLUMN = pa.ipc.IpcReadOptions(use_threads=False, included_fields=[0])


class SpillWriter:
    """Appends tables to one new IPC file under `folder`, opened on the first write; its
    buffers zstd-compressed."""

    def __init__(self, folder: str, schema: pa.Schema) -> None:
        self.folder, self.schema = folder, schema
        self.path: str | None = None
        self._stream = None
        self._writer: pa.ipc.RecordBatchFileWriter | None = None
        self._batches = 0
        self._named: str | None = None

    def next_path(self) -> str:
        """The file the next `append` writes to: named now, created by that append."""
        if self._writer is not None:
            return self.path
        if self._named is None:
            self._named = FileSystems.join(self.folder, f"{uuid.uuid4().hex}.arrow")
        return self._named

    def append(self, table: pa.Table) -> tuple[str, int]:
        """Write the table as one record batch; returns (file, batch index). A failed write or
        close (a full disk) abandons the file, so that closing it again (Beam's teardown) does
        not raise a second error ("write to closed file") that would hide the first."""
        try:
            if self._writer is None:
                self.path, self._named = self.next_path(), None
                self._stream = FileSystems.create(self.path)
                self._writer = pa.ipc.new_file(self._stream, self.schema, options=_IPC_OPTIONS)
            batch = table.combine_chunks().to_batches()[0]
            self._writer.write_batch(batch)
        except BaseException:
            self._abandon()
            raise
        self._batches += 1
        return self.path, self._batches - 1

    def _abandon(self) -> None:
        writer, stream = self._writer, self._stream
        self._writer = self._stream = None
        self._batches = 0
        for part in (writer, stream):
            try:
                if part is not None:
                    part.close()
            except Exception:  # noqa: BLE001, S110 - the first error is the one to report
                pass

    def close(self) -> None:
        try:
            if self._writer is not None:
                self._writer.close()
                self._stream.close()
        except BaseException:
            self._abandon()
            raise
        self._writer = self._stream = None
        self._batches = 0


class BlobWriter:
    """Appends byte strings (the parked pieces, pickled with their notes packed) to one new
    file under `folder`, opened on the first write; each is found again by (file, offset,
    size), which the caller keeps (`plan.FACTS_SCHEMA`). No framing and no footer: an Arrow
    record batch a piece cost ~30 us a piece to build and write and ~5 us to find again, for
    bytes that need neither columns nor types. A file is read once the bundle that wrote it
    has closed it. A failed write or close abandons the file (as `SpillWriter`)."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.path: str | None = None
        self._stream = None
        self._size = 0

    def append(self, data: bytes) -> tuple[str, int]:
        """Write `data`; returns (file, offset) (its size is `len(data)`)."""
        try:
            if self._stream is None:
                self.path = FileSystems.join(self.folder, f"{uuid.uuid4().hex}.bin")
                self._stream = FileSystems.create(self.path, compression_type=_UNCOMPRESSED)
                self._size = 0
            self._stream.write(data)
        except BaseException:
            self._abandon()
            raise
        offset, self._size = self._size, self._size + len(data)
        return self.path, offset

    def _abandon(self) -> None:
        stream, self._stream = self._stream, None
        with contextlib.suppress(Exception):  # the first error is the one to report
            if stream is not None:
                stream.close()

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()


class BlobReader:
    """Reads (file, offset, size) of `BlobWriter` back, keeping a few files open: a local
    file by `os.pread`, any other by a seek and a read of the filesystem's stream."""

    def __init__(self, keep_open: int = 4) -> None:
        if keep_open < 1:
            raise ValueError(f"keep_open must be at least 1, not {keep_open}")
        self._open: OrderedDict[str, object] = OrderedDict()
        self._keep = keep_open

    def read(self, path: str, offset: int, size: int) -> bytes:
        handle = self._handle(path)
        if _is_local(path):
            data = os.pread(handle.fileno(), size, offset)
        else:
            handle.seek(offset)
            data = handle.read(size)
        if len(data) != size:
            raise OSError(f"{path}: {size} bytes at {offset} expected, {len(data)} found")
        return data

    def read_all(self, places: list[tuple[str, int, int]]) -> list[bytes]:
        """`read` of each (file, offset, size) of `places`, in their order, read in the files'
        order: one pass through each file (a remote file's stream reads ahead; a shard writer's
        pieces come in piece_id order, which is no file's)."""
        found: list[bytes] = [b""] * len(places)
        for index in sorted(range(len(places)), key=places.__getitem__):
            found[index] = self.read(*places[index])
        return found

    def _handle(self, path: str):
        if path in self._open:
            self._open.move_to_end(path)
            return self._open[path]
        if _is_local(path):  # a file object: closed when collected, if `close` is never called
            handle = open(path, "rb", buffering=0)  # noqa: SIM115 - kept open, closed in close
        else:
            handle = FileSystems.open(path, compression_type=_UNCOMPRESSED)
        self._open[path] = handle
        while len(self._open) > self._keep:
            self._open.popitem(last=False)[1].close()
        return handle

    def close(self) -> None:
        handles = list(self._open.values())
        self._open.clear()
        for handle in handles:
            with contextlib.suppress(OSError):
                handle.close()

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_local(path: str) -> bool:
    return "://" not in path


class TableSpill:
    """Rows of the columns of `schema`, buffered and appended to one IPC file (`SpillWriter`)
    as a record batch every `batch_rows` rows and at `close`. `add` returns the file's name
    when a row first goes into it (the caller passes it on; the file is complete once closed)."""

    def __init__(self, folder: str, schema: pa.Schema, batch_rows: int = 1 << 12) -> None:
        self.schema, self.batch_rows = schema, batch_rows
        self._writer = SpillWriter(folder, schema)
        self._columns = self._empty()
        self._path: str | None = None

    def _empty(self) -> list:
        return [[] for _ in self.schema.names]

    def add(self, row: tuple) -> str | None:
        """Append one row (a value per column, in the schema's order); the file's name if new."""
        return self._append((row,))

    def _append(self, rows) -> str | None:
        for row in rows:
            for column, value in zip(self._columns, row, strict=True):
                column.append(value)
        if not self._columns[0]:
            return None
        new = None
        if self._path is None:
            self._path = new = self._writer.next_path()
        if len(self._columns[0]) >= self.batch_rows:
            self._flush()
        return new

    def _flush(self) -> None:
        if self._columns[0]:
            arrays = [
                pa.array(column, type=field.type)
                for column, field in zip(self._columns, self.schema, strict=True)
            ]
            self._writer.append(pa.Table.from_arrays(arrays, schema=self.schema))
            self._columns = self._empty()

    def close(self) -> None:
        """Write what is buffered and close the file; the next `add` starts a new one."""
        try:
            self._flush()
            self._writer.close()
        finally:
            self._columns = self._empty()
            self._path = None


class RowSpill(TableSpill):
    """A `TableSpill` of uint64 columns `names`, buffered compactly (8 bytes a value, not a
    Python int); `add_columns` appends many rows at once."""

    def __init__(self, folder: str, names: tuple[str, ...], batch_rows: int = 1 << 16) -> None:
        self.names = names
        super().__init__(folder, pa.schema([(name, pa.uint64()) for name in names]), batch_rows)

    def _empty(self) -> list:
        return [array("Q") for _ in self.names]

    def add_columns(self, *columns) -> str | None:
        """Append rows given as columns, each a uint64 array or one value for every row (as
        many as the first column has); the file's name if it is new."""
        count = len(columns[0])
        for values in columns:
            if np.ndim(values) and len(values) != count:  # every later row would be shifted
                raise ValueError(f"columns of {count} and {len(values)} rows")
        for column, values in zip(self._columns, columns, strict=True):
            if np.ndim(values):
                column.frombytes(np.asarray(values, np.uint64).tobytes())
            else:
                column.frombytes(np.full(count, values, np.uint64).tobytes())
        return self._append(())


def read_table(paths, schema: pa.Schema) -> pa.Table:
    """Every batch of every file in `paths` (`TableSpill`), as one table of `schema`."""
    return pa.Table.from_batches(list(_batches(paths)), schema=schema)


def read_rows(paths, names: tuple[str, ...]) -> list:
    """The uint64 columns `names` of every file in `paths` (`RowSpill`), concatenated, as
    numpy arrays. Read twice, batch by batch: once to count the rows, once into arrays of that
    length, so the columns are held once (parts then joined held them twice: at 100,000 files,
    76 MB for 38 at the plan, the largest transient of a worker)."""
    paths = list(paths)
    rows = sum(batch.num_rows for batch in _batches(paths, _FIRST_COLUMN))  # one column's bytes
    columns = [np.empty(rows, np.uint64) for _ in names]
    at = 0
    for batch in _batches(paths):
        if at + batch.num_rows > rows:  # a file changed between the two reads
            raise RuntimeError(f"the row spill changed while read: {rows} rows, then more")
        for column, name in zip(columns, names, strict=True):
            column[at : at + batch.num_rows] = batch.column(name).to_numpy()
        at += batch.num_rows
    if at != rows:
        raise RuntimeError(f"the row spill changed while read: {rows} rows, then {at}")
    return columns


def _batches(paths, options: pa.ipc.IpcReadOptions | None = None):
    """Every record batch of every IPC file in `paths`, one at a time."""
    for path in paths:
        handle = _open_file(path)
        try:
            reader = pa.ipc.open_file(handle, options=options or _READ_OPTIONS)
            for index in range(reader.num_record_batches):
                yield reader.get_batch(index)
        finally:
            handle.close()


class SpillReader:
    """Reads batches back, keeping a few files open (each read pulls only its batch)."""

    def __init__(self, keep_open: int = 4) -> None:
        self._open: OrderedDict[str, tuple[object, pa.ipc.RecordBatchFileReader]] = OrderedDict()
        self._keep = keep_open

    def batch(self, path: str, index: int) -> pa.RecordBatch:
        return self._reader(path).get_batch(index)

    def _reader(self, path: str) -> pa.ipc.RecordBatchFileReader:
        if path in self._open:
            self._open.move_to_end(path)
            return self._open[path][1]
        handle = _open_file(path)
        reader = pa.ipc.open_file(handle, options=_READ_OPTIONS)
        self._open[path] = (handle, reader)
        while len(self._open) > self._keep:
            old_handle, _ = self._open.popitem(last=False)[1]
            old_handle.close()
        return reader

    def close(self) -> None:
        for handle, _ in self._open.values():
            handle.close()
        self._open.clear()


def give_back_memory() -> None:
    """Return the memory freed so far to the system: Arrow's pool (mimalloc keeps freed pages
    for reuse) and glibc's heap (`malloc_trim`; a no-op where the C library is another).
    Called after a step that held much and freed it, before one that holds less."""
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def _open_file(path: str):
    if _is_local(path):
        return pa.OSFile(path, "rb")  # plain reads: no mapping that would grow the RSS
    return pa.PythonFile(FileSystems.open(path), mode="r")
