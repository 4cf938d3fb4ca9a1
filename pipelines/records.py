"""The elements that flow between the ingest transforms, one small dataclass each."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from mg.errors import CorpusError
from mg.pipelines.listing import FileRef


@dataclass(frozen=True, order=True)
class Rejected:
    """One dead letter: a file (or a tune of it) that did not make it, and why."""

    path: str
    reason: str
    detail: str

    @classmethod
    def from_error(cls, error: CorpusError, source: str) -> Rejected:
        detail = error.detail
        return cls(source, str(error.reason), detail)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)


@dataclass(frozen=True)
class FileBytes:
    """A file's content as read, with the hash that enters the corpus checksum."""

    ref: FileRef
    data: bytes
    digest: str


@dataclass(frozen=True, order=True)
class PieceRef:
    """A piece to write, as the shard writer reads it from the plan (`plan.refs_of`): where it
    is parked (`size` bytes at `offset` of `spill`), the transpositions it gets (`shifts`) in
    its split group (`group`), and what the writer counts of its rows (counted without building
    them, by `plan.plan_shards`: the writer builds them from the parked piece)."""

    piece_id: str
    source: str
    tune: int
    split: str
    spill: str
    offset: int
    size: int
    rows: int
    steps: int
    padded: int
    pitches_out_of_range: int
    shifts: tuple[int, ...] = (0,)
    group: str = ""
