"""The pickup (anacrusis) of an ABC tune: the length of the notes before its first bar line.

abc2midi's MIDI starts with the pickup as if it were a whole bar, so the pickup is read from
the text: the first bar's notes, rests and chords are summed in whole notes (tuplets, broken
rhythm, grace notes and decorations handled; broken rhythm keeps a pair's sum, so it needs no
care) and compared with the bar length of the tune's `M:`. A first bar shorter than the meter's
is a pickup.
"""

from __future__ import annotations

import re
from fractions import Fraction

from mg.representation.meter import TimeSignature

_FIELD = re.compile(r"^([A-Za-z]):(.*)$")
_NOTE = re.compile(r"(\^{1,2}|_{1,2}|=)?([A-Ga-gzxy])[,']*(\d*)(/*)(\d*)")
_SKIPPED = {'"': '"', "!": "!", "+": "+", "{": "}"}  # chord symbols, decorations, grace notes
_TUPLET = re.compile(r"\((\d)(?::(\d*))?(?::(\d*))?")
_TUPLET_Q = {2: 3, 3: 2, 4: 3, 6: 2, 8: 3}


def tune_fields(header_lines: list[str], tune_text: str) -> tuple[TimeSignature | None, str, str]:
    """(meter, unit length field, body) of a tune: its own M:/L: over the file header's."""
    meter_text, unit_text = "", ""
    lines = tune_text.split("\n")
    body_at = len(lines)
    for line in header_lines:
        match = _FIELD.match(line)
        if match and match[1] in "ML":
            meter_text, unit_text = _take(match, meter_text, unit_text)
    for i, line in enumerate(lines):
        match = _FIELD.match(line)
        if match and match[1] in "ML":
            meter_text, unit_text = _take(match, meter_text, unit_text)
        if match and match[1] == "K":
            body_at = i + 1
            break
    return _signature(meter_text), unit_text, "\n".join(lines[body_at:])


def _take(match: re.Match, meter_text: str, unit_text: str) -> tuple[str, str]:
    value = match[2].split("%")[0].strip()
    return (value, unit_text) if match[1] == "M" else (meter_text, value)


def _signature(text: str) -> TimeSignature | None:
    try:
        return TimeSignature.parse(text) if text else None
    except ValueError:
        return None  # M:none, M:(2+3)/8 … free or additive meters: no pickup found


def _unit(unit_text: str, meter: TimeSignature) -> Fraction:
    try:
        return Fraction(unit_text)
    except (ValueError, ZeroDivisionError):  # the ABC default: 1/16 below 3/4, else 1/8
        return Fraction(1, 16) if meter.bar_length < Fraction(3, 4) else Fraction(1, 8)


def tune_pickup(header_lines: list[str], tune_text: str) -> Fraction:
    """Length of the pickup in whole notes; 0 when the first bar is full (or unknown)."""
    meter, unit_text, body = tune_fields(header_lines, tune_text)
    if meter is None:
        return Fraction(0)
    first = first_bar_length(body, _unit(unit_text, meter))
    return first if 0 < first < meter.bar_length else Fraction(0)


def first_bar_length(body: str, unit: Fraction) -> Fraction:
    """Whole notes before the first bar line that follows some music, in ABC `body` text
    (0 when no music follows that bar line)."""
    music = "\n".join(line.split("%")[0] for line in body.split("\n") if not _FIELD.match(line))
    total, i, tuplet = Fraction(0), 0, (Fraction(1), 0)
    while i < len(music):
        char = music[i]
        if char in "|:" or music.startswith("[|", i):
            if total > 0:  # a first bar with no music after it is a short tune, no pickup
                return total if re.search(r"[A-Ga-g]", music[i:]) else Fraction(0)
            i += 1
        elif char == "[" and music[i + 1 : i + 2].isdigit():  # a variant ending [1 [2
            i += 2
        elif char in _SKIPPED:
            end = music.find(_SKIPPED[char], i + 1)
            i = len(music) if end < 0 else end + 1
        elif music.startswith("[", i) and re.match(r"\[[A-Za-z]:", music[i:]):
            end = music.find("]", i)
            field = music[i + 1 : end if end > 0 else len(music)]
            unit = _unit(field[2:].strip(), TimeSignature(4, 4)) if field[0] == "L" else unit
            i = len(music) if end < 0 else end + 1
        elif char == "[":
            length, i = _chord(music, i, unit)
            total, tuplet = total + length * tuplet[0], _spend(tuplet)
        elif char == "(" and i + 1 < len(music) and music[i + 1].isdigit():
            match = _TUPLET.match(music, i)
            p = int(match[1])
            q = int(match[2]) if match[2] else _TUPLET_Q.get(p, 2)
            r = int(match[3]) if match[3] else p
            tuplet, i = (Fraction(q, p), r), match.end()
        elif char == "Z":  # a multi-bar rest fills whole bars: no pickup
            return Fraction(0)
        else:
            match = _NOTE.match(music, i)
            if match and match[2] != "y":
                total += _length(match, unit) * tuplet[0]
                tuplet = _spend(tuplet)
            i = match.end() if match else i + 1
    return total


def _spend(tuplet: tuple[Fraction, int]) -> tuple[Fraction, int]:
    ratio, left = tuplet
    return (ratio, left - 1) if left > 1 else (Fraction(1), 0)


def _chord(music: str, i: int, unit: Fraction) -> tuple[Fraction, int]:
    """A chord `[CEG]2`: the length of its first note times the length after `]`."""
    end = music.find("]", i)
    if end < 0:
        return Fraction(0), len(music)
    inner = _NOTE.search(music, i + 1, end)
    length = _length(inner, unit) if inner else Fraction(0)
    after = re.compile(r"(\d*)(/*)(\d*)").match(music, end + 1)
    return length * _multiplier(*after.groups()), after.end()


def _length(match: re.Match, unit: Fraction) -> Fraction:
    return unit * _multiplier(match[3], match[4], match[5])


def _multiplier(number: str, slashes: str, divisor: str) -> Fraction:
    value = Fraction(int(number)) if number else Fraction(1)
    if slashes:
        value /= int(divisor) if divisor else 2 ** len(slashes)
    return value
