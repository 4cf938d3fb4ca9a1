"""From a file (or its bytes) to pieces on the grid: the entry point of ingest and `mg inspect`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mg.errors import CorpusError, Reason
from mg.representation import abc as abc_format
from mg.representation.encode import encode_events
from mg.representation.files import MAX_FILE_BYTES, printable, read_regular_file
from mg.representation.grid import Grid
from mg.representation.midi import parse_midi

MIDI_SUFFIXES = (".mid", ".midi", ".smf")
ABC_SUFFIXES = (".abc",)
MUSICXML_SUFFIXES = (".mxl", ".musicxml", ".xml")
SUFFIXES = MIDI_SUFFIXES + ABC_SUFFIXES + MUSICXML_SUFFIXES


@dataclass(frozen=True)
class Piece:
    """One tune on the grid: its note matrix and where it came from."""

    notes: np.ndarray  # [steps, α, 3] uint8
    source: str
    tune: int  # index within a multi-tune file; 0 for MIDI
    title: str
    abc: str | None  # the tune's ABC text, for ABC sources
    stats: dict[str, int] = field(default_factory=dict)
    time_signature: tuple[int, int] | None = None

    @property
    def piece_id(self) -> str:
        """Hash of the encoded content: the same music from two files gets the same id."""
        digest = hashlib.blake2b(digest_size=8)
        digest.update(str(self.notes.shape).encode())
        digest.update(np.ascontiguousarray(self.notes).tobytes())
        return digest.hexdigest()


@dataclass(frozen=True)
class FileResult:
    """The pieces of one file, and the tunes of it that failed (multi-tune ABC only)."""

    path: str
    pieces: list[Piece]
    failures: list[CorpusError]


def read_file(
    path: str | Path, grid: Grid, source: str | None = None, max_bytes: int = MAX_FILE_BYTES
) -> FileResult:
    """Read a MIDI, ABC or MusicXML file from disk (a regular file of at most `max_bytes`)."""
    data = read_regular_file(path, max_bytes)
    return read_bytes(data, source or printable(str(path)), grid)


def read_bytes(data: bytes, source: str, grid: Grid) -> FileResult:
    """Decode the bytes of a file named `source` (its suffix picks the format, else its content)."""
    if not data.strip():
        raise CorpusError(source, Reason.EMPTY, "file is empty")
    kind = detect_format(data, source)
    if kind == "midi":
        return _midi_result(data, source, grid)
    if kind == "abc":
        return _abc_result(abc_format.decode_text(data), source, grid)
    return _musicxml_result(data, source, grid)


def detect_format(data: bytes, source: str) -> str:
    suffix = Path(source).suffix.lower()
    if suffix in MIDI_SUFFIXES or data[:4] == b"MThd":
        if data[:4] != b"MThd":
            raise CorpusError(source, Reason.UNKNOWN_FORMAT, "not a MIDI file (no MThd header)")
        return "midi"
    if suffix in ABC_SUFFIXES or (b"X:" in data[:4096] and b"K:" in data[:65536]):
        return "abc"
    if suffix in MUSICXML_SUFFIXES:
        return "musicxml"
    raise CorpusError(source, Reason.UNKNOWN_FORMAT, "neither MIDI, ABC nor MusicXML")


def _midi_result(data: bytes, source: str, grid: Grid) -> FileResult:
    events = parse_midi(data, source)
    notes, stats = encode_events(events, grid, source)
    piece = Piece(notes, source, 0, Path(source).stem, None, stats.as_dict(), events.time_signature)
    return FileResult(source, [piece], [])


def _abc_result(text: str, source: str, grid: Grid) -> FileResult:
    _, tunes = abc_format.split_tunes(text)
    if not tunes:
        raise CorpusError(source, Reason.ABC_NO_TUNE, "ABC file has no tune (no X: line)")
    pieces, failures = [], []
    for tune, midi in zip(tunes, abc_format.render_tunes(text, tunes, source), strict=True):
        try:
            pieces.append(_abc_piece(tune, midi, source, grid))
        except CorpusError as exc:  # one broken tune: recorded, the others go on
            failures.append(
                CorpusError(source, exc.reason, f"tune {tune.index} ({tune.title}): {exc.detail}")
            )
    if not pieces:
        raise CorpusError(
            source,
            Reason.ABC_NO_TUNE,
            f"no parseable tune among {len(tunes)}; first: {failures[0].detail}",
        )
    return FileResult(source, pieces, failures)


def _abc_piece(
    tune: abc_format.AbcTune, midi: tuple[bytes, int] | CorpusError, source: str, grid: Grid
) -> Piece:
    if isinstance(midi, CorpusError):
        raise midi
    events = parse_midi(midi[0], source)
    notes, stats = encode_events(events, grid, source)
    stats.dropped["abc2midi_errors"] = midi[1]
    return Piece(
        notes, source, tune.index, tune.title, tune.text, stats.as_dict(), events.time_signature
    )


def _musicxml_result(data: bytes, source: str, grid: Grid) -> FileResult:
    """MusicXML through music21 (slow; optional): rendered to MIDI, then read like MIDI."""
    try:
        import music21

        score = (
            _parse_mxl(data)
            if source.lower().endswith(".mxl")
            else music21.converter.parseData(data)
        )
        midi = music21.midi.translate.streamToMidiFile(score).writestr()
    except CorpusError:
        raise
    except Exception as exc:
        raise CorpusError(
            source, Reason.UNREADABLE, f"MusicXML could not be parsed: {exc}"
        ) from None
    return _midi_result(midi, source, grid)


def _parse_mxl(data: bytes):
    import tempfile

    import music21

    with tempfile.NamedTemporaryFile(suffix=".mxl") as handle:
        handle.write(data)
        handle.flush()
        return music21.converter.parse(handle.name)
