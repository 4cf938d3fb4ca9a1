"""Reading MIDI bytes into note events, after checking the header ourselves.

symusic parses fast (about 100x pretty_midi) but answers malformed files with generic errors,
so the structural checks that give a clear reason (empty, truncated, division 0, SMPTE, no
tracks) are made here, in pure Python, before it sees the bytes.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass

import numpy as np

from mg.errors import CorpusError, Reason


@dataclass(frozen=True)
class NoteEvents:
    """Pitched notes of one piece in ticks; drums already removed."""

    start: np.ndarray  # int64 ticks
    end: np.ndarray  # int64 ticks, > start
    pitch: np.ndarray  # int64 MIDI pitch
    velocity: np.ndarray  # int64 1..127
    ticks_per_beat: int
    drum_notes: int = 0
    time_signatures: tuple[tuple[int, int, int], ...] = ()  # (tick, numerator, denominator)
    tempo_bpm: float | None = None  # the first tempo (quarter notes per minute), if any
    program: int | None = None  # General MIDI program of the first pitched track with notes


def check_midi_header(data: bytes, path: str) -> None:
    """Raise CorpusError when the chunk structure is not a complete, usable Standard MIDI File.

    Like symusic (and mido), only the tracks the header declares are read: bytes after them are
    ignored, chunks of unknown kinds are skipped, and a file that ends before its last declared
    track is truncated.
    """
    if len(data) < 14:
        raise CorpusError(path, Reason.TRUNCATED, f"MIDI header cut short ({len(data)} bytes)")
    length, fmt, ntracks, division = struct.unpack_from(">IHHH", data, 4)
    if length != 6 or fmt > 2:
        raise CorpusError(
            path, Reason.BAD_HEADER, f"bad MIDI header (length {length}, format {fmt})"
        )
    if division & 0x8000:
        raise CorpusError(path, Reason.SMPTE_DIVISION, "SMPTE time division is not supported")
    if division == 0:
        raise CorpusError(path, Reason.DIVISION_ZERO, "MIDI division is 0 ticks per beat")
    if ntracks == 0:
        raise CorpusError(path, Reason.NO_TRACKS, "MIDI file has no tracks")
    _check_track_chunks(data, ntracks, path)


def _check_track_chunks(data: bytes, ntracks: int, path: str) -> None:
    offset, found = 14, 0
    while found < ntracks:
        if offset + 8 > len(data):
            raise CorpusError(
                path, Reason.TRUNCATED, f"MIDI file ends after {found} of {ntracks} tracks"
            )
        kind, size = data[offset : offset + 4], struct.unpack_from(">I", data, offset + 4)[0]
        if offset + 8 + size > len(data):
            missing = offset + 8 + size - len(data)
            raise CorpusError(
                path, Reason.TRUNCATED, f"MIDI track truncated ({missing} bytes missing)"
            )
        found += kind == b"MTrk"
        offset += 8 + size


def parse_midi(data: bytes, path: str) -> NoteEvents:
    """Check the header, parse with symusic, keep pitched notes."""
    import symusic  # imported here so that `mg.representation` imports fast

    check_midi_header(data, path)
    try:
        score = symusic.Score.from_midi(data)
    except Exception as exc:  # symusic raises RuntimeError/ValueError with its own wording
        detail = str(exc).removeprefix("MiniMidi: ").removesuffix(": iostream error")
        raise CorpusError(path, Reason.UNREADABLE, f"MIDI could not be parsed: {detail}") from None
    return score_to_events(score, path)


def score_to_events(score, path: str) -> NoteEvents:
    """Flatten a symusic Score (tick time) into pitched note events."""
    parts, drums, any_track, program = [], 0, False, None
    for track in score.tracks:
        any_track = True
        notes = track.notes
        if track.is_drum:
            drums += len(notes)
            continue
        if len(notes):
            parts.append(_note_bytes(notes))
            program = int(track.program) if program is None else program
    if not parts:
        if drums:
            raise CorpusError(
                path, Reason.ONLY_DRUMS, f"only drum notes ({drums}), nothing pitched"
            )
        what = "no notes" if any_track else "no tracks with notes"
        raise CorpusError(path, Reason.NO_PITCHED_NOTES, f"MIDI has {what}")
    records = np.frombuffer(parts[0] if len(parts) == 1 else b"".join(parts), _NOTE_RECORD)
    start, duration = records["time"].astype(np.int64), records["duration"].astype(np.int64)
    if start.min() < 0 or duration.min() < 0:  # symusic's int32 ticks wrapped around
        raise CorpusError(path, Reason.TOO_LONG, "absurd length: ticks beyond 2^31")
    return NoteEvents(
        start=start,
        end=start + np.maximum(duration, 1),
        pitch=records["pitch"].astype(np.int64),
        velocity=np.maximum(records["velocity"], 1).astype(np.int64),  # int8: at most 127
        ticks_per_beat=int(score.ticks_per_quarter),
        drum_notes=drums,
        time_signatures=_time_signatures(score.time_signatures),
        tempo_bpm=round(float(score.tempos[0].qpm), 3) if len(score.tempos) else None,
        program=program,
    )


# symusic's tick notes and time signatures as its pickled state lays them out (zpp_bits: the
# count in 4 bytes, then the vector's memory as it is: a note int32 time and duration, int8
# pitch and velocity, 2 bytes padding; a time signature int32 time, uint8 numerator and
# denominator, 2 bytes padding)
_NOTE_RECORD = np.dtype(
    {
        "names": ["time", "duration", "pitch", "velocity"],
        "formats": ["<i4", "<i4", "i1", "i1"],
        "offsets": [0, 4, 8, 9],
        "itemsize": 12,
    }
)
_SIGNATURE_RECORD = struct.Struct("<iBBxx")


def _note_bytes(notes) -> memoryview:
    """A track's notes (a symusic NoteTickList) as the bytes of `_NOTE_RECORD`s.

    The bytes symusic pickles them as, less the count: about a fifth of the cost of `.numpy()`
    and its four arrays (1.5 against 7.3 us a track), and the tracks join as bytes (a
    concatenate of structured arrays costs ten times more). Where this symusic lays them out
    otherwise (`_state_is_records`, checked once a process), or a list's bytes are not as long
    as its notes, they are made from `.numpy()`.
    """
    if _state_is_records():
        state = notes.__getstate__()
        if len(state) == 4 + _NOTE_RECORD.itemsize * len(notes):
            return memoryview(state)[4:]
    fields = notes.numpy()
    records = np.zeros(len(notes), _NOTE_RECORD)
    for name in _NOTE_RECORD.names:
        records[name] = fields[name]
    return memoryview(records.tobytes())


def _time_signatures(signatures) -> tuple[tuple[int, int, int], ...]:
    """(tick, numerator, denominator) of a symusic TimeSignatureTickList, from its pickled
    bytes as `_note_bytes` reads the notes (1 against 5 us for two), or from its items."""
    if _state_is_records():
        state = signatures.__getstate__()
        if len(state) == 4 + _SIGNATURE_RECORD.size * len(signatures):
            return tuple(_SIGNATURE_RECORD.iter_unpack(memoryview(state)[4:]))
    return tuple((int(s.time), int(s.numerator), int(s.denominator)) for s in signatures)


@functools.cache
def _state_is_records() -> bool:
    """Whether symusic's pickled notes and time signatures read back as `_NOTE_RECORD`s and
    `_SIGNATURE_RECORD`s (with their count first)."""
    from symusic.core import NoteTickList, TimeSignatureTickList

    time = np.array([0, 1, 2**31 - 1, 7, 1 << 24], dtype=np.int32)
    duration = np.array([5, 0, 3, 2**31 - 1, 70_000], dtype=np.int32)
    pitch = np.array([0, 127, 60, 21, 108], dtype=np.int8)
    velocity = np.array([100, 0, 127, 1, 64], dtype=np.int8)
    state = NoteTickList.from_numpy(time, duration, pitch, velocity).__getstate__()
    if len(state) != 4 + _NOTE_RECORD.itemsize * len(time) or state[:4] != b"\x05\0\0\0":
        return False
    records = np.frombuffer(state, _NOTE_RECORD, offset=4)
    if not all(
        np.array_equal(records[name], values)
        for name, values in zip(_NOTE_RECORD.names, (time, duration, pitch, velocity), strict=True)
    ):
        return False
    numerator = np.array([3, 255, 1, 6, 0], dtype=np.uint8)
    denominator = np.array([4, 1, 128, 8, 2], dtype=np.uint8)
    signatures = TimeSignatureTickList.from_numpy(time, numerator, denominator)
    state = signatures.__getstate__()
    if len(state) != 4 + _SIGNATURE_RECORD.size * len(time) or state[:4] != b"\x05\0\0\0":
        return False
    expected = zip(time.tolist(), numerator.tolist(), denominator.tolist(), strict=True)
    return list(_SIGNATURE_RECORD.iter_unpack(memoryview(state)[4:])) == list(expected)
