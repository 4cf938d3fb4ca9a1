"""A note matrix compressed for the trip between processes: `Piece`'s pickled form.

A tune's dense matrix [steps, α, 3] is ~140 KB of which ~2% is not zero. Ingest moves every
piece twice, through the parse guard's pipe and through the spill the shard writers read back;
pickled dense, that was ~0.3 ms of a ~2.5 ms file in copies and zstd. LZ4 (raw blocks) packs it
to ~4 KB in ~30 us and unpacks it in ~20; what comes out is bit for bit what went in. The `lz4`
package, not pyarrow's codec (the same bytes, as fast): a parse child that imported pyarrow for
it held 26 MB more. A private, short-lived form: nothing stores it beyond one run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import lz4.block
import numpy as np


@dataclass(frozen=True)
class PackedNotes:
    shape: tuple[int, ...]
    dtype: str
    data: bytes

    @classmethod
    def of(cls, notes: np.ndarray) -> PackedNotes:
        flat = np.ascontiguousarray(notes).reshape(-1)
        return cls(notes.shape, notes.dtype.str, lz4.block.compress(flat, store_size=False))

    def unpack(self) -> np.ndarray:
        """The matrix, read-only (it is a view of the decompressed bytes)."""
        dtype = np.dtype(self.dtype)
        size = math.prod(self.shape) * dtype.itemsize  # np.prod of a tuple: ~15 us of checks
        data = lz4.block.decompress(self.data, uncompressed_size=size)
        notes = np.frombuffer(data, dtype=dtype).reshape(self.shape)
        notes.flags.writeable = False  # the piece keeps `self` to pickle again: they must agree
        return notes
