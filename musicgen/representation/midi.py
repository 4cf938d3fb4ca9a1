"""Reading MIDI bytes into note events, after checking the header ourselves.

symusic parses fast (about 100x pretty_midi) but answers malformed files with generic errors,
so the structural checks that give a clear reason (empty, truncated, division 0, SMPTE, no
tracks) are made here, in pure Python, before it sees the bytes.
"""

from __future__ import annotations

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
        if track.is_drum:
            drums += len(track.notes)
            continue
        if len(track.notes):
            parts.append(track.notes.numpy())
            program = int(track.program) if program is None else program
    if not parts:
        if drums:
            raise CorpusError(
                path, Reason.ONLY_DRUMS, f"only drum notes ({drums}), nothing pitched"
            )
        what = "no notes" if any_track else "no tracks with notes"
        raise CorpusError(path, Reason.NO_PITCHED_NOTES, f"MIDI has {what}")
    start, duration = _joined(parts, "time"), _joined(parts, "duration")
    if start.min() < 0 or duration.min() < 0:  # symusic's int32 ticks wrapped around
        raise CorpusError(path, Reason.TOO_LONG, "absurd length: ticks beyond 2^31")
    sigs = score.time_signatures
    return NoteEvents(
        start=start,
        end=start + np.maximum(duration, 1),
        pitch=_joined(parts, "pitch"),
        velocity=np.minimum(np.maximum(_joined(parts, "velocity"), 1), 127),
        ticks_per_beat=int(score.ticks_per_quarter),
        drum_notes=drums,
        time_signatures=tuple((int(s.time), int(s.numerator), int(s.denominator)) for s in sigs),
        tempo_bpm=round(float(score.tempos[0].qpm), 3) if len(score.tempos) else None,
        program=program,
    )


def _joined(parts: list[dict[str, np.ndarray]], field: str) -> np.ndarray:
    """One field of every track's notes, as one int64 array."""
    if len(parts) == 1:
        return parts[0][field].astype(np.int64)
    return np.concatenate([part[field] for part in parts]).astype(np.int64)
