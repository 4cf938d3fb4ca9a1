"""Fixtures of the representation tests: MIDI bytes written by hand."""

from __future__ import annotations

import struct

import pytest


class Smf:
    """Standard MIDI File bytes, written field by field, so a test says exactly what it feeds."""

    @staticmethod
    def vlq(value: int) -> bytes:
        """A variable-length quantity (delta times)."""
        out = [value & 0x7F]
        value >>= 7
        while value:
            out.append((value & 0x7F) | 0x80)
            value >>= 7
        return bytes(reversed(out))

    @staticmethod
    def header(fmt: int, ntracks: int, division: int, length: int = 6) -> bytes:
        return b"MThd" + struct.pack(">IHHH", length, fmt, ntracks, division)

    @classmethod
    def track(cls, events: list[tuple[int, list[int]]], end: bool = True) -> bytes:
        """events: (delta ticks, raw event bytes: a status byte may be left out, running status)."""
        body = b"".join(cls.vlq(delta) + bytes(event) for delta, event in events)
        body += b"\x00\xff\x2f\x00" if end else b""
        return b"MTrk" + struct.pack(">I", len(body)) + body

    @classmethod
    def melody(cls, pitches: list[int], ticks: int, channel: int = 0) -> bytes:
        """One track: the pitches one after the other, `ticks` long each, explicit status bytes."""
        events = []
        for pitch in pitches:
            events += [(0, [0x90 | channel, pitch, 100]), (ticks, [0x80 | channel, pitch, 0])]
        return cls.track(events)


@pytest.fixture(scope="session")
def smf() -> type[Smf]:
    return Smf
