"""A note matrix compressed for the trip between processes: `Piece`'s pickled form.

A tune's dense matrix [steps, α, 3] is ~140 KB of which ~2% is not zero. Ingest moves every
piece twice, through the parse guard's pipe and through the spill the shard writers read back;
pickled dense, that was ~0.3 ms of a ~2.5 ms file in copies and zstd. LZ4 (raw blocks, through
pyarrow) packs it to ~4 KB in ~30 us and unpacks it in ~15; what comes out is bit for bit what
went in. A private, short-lived form: nothing stores it beyond one run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_CODEC = "lz4_raw"


@dataclass(frozen=True)
class PackedNotes:
    shape: tuple[int, ...]
    dtype: str
    data: bytes

    @classmethod
    def of(cls, notes: np.ndarray) -> PackedNotes:
        flat = np.ascontiguousarray(notes).reshape(-1)
        return cls(notes.shape, notes.dtype.str, _codec().compress(flat, asbytes=True))

    def unpack(self) -> np.ndarray:
        """The matrix, read-only (it is a view of the decompressed buffer)."""
        dtype = np.dtype(self.dtype)
        size = math.prod(self.shape) * dtype.itemsize  # np.prod of a tuple: ~15 us of checks
        buffer = _codec().decompress(self.data, decompressed_size=size)
        notes = np.frombuffer(buffer, dtype=dtype).reshape(self.shape)
        notes.flags.writeable = False  # the piece keeps `self` to pickle again: they must agree
        return notes


_codecs: list = []


def _codec():
    """pyarrow's codec, made on first use (the parse child imports this without needing it)."""
    if not _codecs:
        import pyarrow as pa

        _codecs.append(pa.Codec(_CODEC))
    return _codecs[0]
