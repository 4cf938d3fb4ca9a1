"""The written bar lines of an ABC tune, in the order abc2midi plays them.

The meter alone puts a bar line every bar from the first full bar; a written bar that is not a
whole bar long (the short bar before a repeat whose pickup is played only the second time, a
transcription's over-full bar) would shift every later bar line. So the bars are read from the
text: every bar line (`|`, `||`, `|]`, `[|`, `|:`, `:|`, `::`, endings `[1` `[2`), each bar's
length summed as in `abc_pickup`, then repeats expanded the way abc2midi plays them (checked
against its MIDI):

- `:|` goes back to the last `|:`, else to the tune's start; the second time through it goes on;
- once a repeat has ended, a `||`, `|]` or `[|` (or the `:|` itself) is where the next `:|`
  without a `|:` goes back to (before the first repeat ends, double bars are not);
- `::` ends one repeat and starts the next; `[1` is skipped on the second time up to its `:|`,
  `[2` on other times up to the next double bar or repeat sign;
- after first and second endings the repeat is not done (its `:|` was skipped, not played):
  a later `:|` without a `|:` goes back to the same start a third time, where both endings are
  skipped, and no `:|` repeats after that. abc2midi's own logic (a musician would play each
  strain twice), followed because its MIDI is the music we keep.

A fermata on an invisible rest (`Hx`) is a printed sign, not a pause: the text is read as
abc2midi is given it, without them (`abc.without_pause_marks`). Then the bars are counted as a
musician counts them (`counted`): a short bar followed by a short bar that completes it (the
bar before a repeat and the pickup played after it) is one bar, an over-full bar is as many
bars as it holds and the rest, and a first bar shorter than the meter's is the pickup. Tunes
this does not model (voices, parts, multi-bar rests, meters that are not n/d) give None and
keep the meter's bar lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from mg.representation.abc import without_pause_marks
from mg.representation.abc_pickup import (
    _FIELD,
    _NOTE,
    _SKIPPED,
    _TUPLET,
    _TUPLET_Q,
    _chord,
    _multiplier,
    _signature,
    _unit,
    tune_fields,
)
from mg.representation.meter import Meter, TimeSignature

WHOLE = 80640  # ticks of a whole note (2^8·3^2·5·7): lengths add as integers, fast and exact
_BAR = re.compile(r"::|:*(?:\[\||\|)[|\]]*:*")
_ENDING = re.compile(r"\s*\[?(\d)")


@dataclass
class _Line:
    """A bar line: ends a repeat, starts one, a double bar; `ending` n when `[n` follows."""

    end: bool = False
    start: bool = False
    double: bool = False
    ending: int = 0


@dataclass
class _Bar:
    length: int  # ticks, WHOLE to a whole note
    signature: TimeSignature

    @property
    def full(self) -> int:
        return _full(self.signature)


@lru_cache(maxsize=64)
def _full(signature: TimeSignature) -> int:
    return round(signature.bar_length * WHOLE)


@lru_cache(maxsize=4096)
def _ticks(number: str, slashes: str, divisor: str, unit: int, q: int, p: int) -> int:
    """Ticks of a note `number slashes divisor` (as `C3/2`) of `unit` ticks in a q:p tuplet."""
    return round(unit * _multiplier(number, slashes, divisor) * q / p)


def tune_bars(header_lines: list[str], tune_text: str) -> list[_Bar] | None:
    """The bars abc2midi plays, repeats expanded, each with its length (WHOLE to a whole note)
    and the time signature in force; None when the tune is beyond this reading."""
    meter, unit_text, body = tune_fields(header_lines, tune_text)
    if meter is None or re.search(r"^[PV]:|\[[PV]:", body, re.MULTILINE):
        return None
    items = _scan(body, meter, _unit(unit_text, meter))
    return None if items is None else _expand(items)


def _scan(body: str, meter: TimeSignature, unit: Fraction) -> list | None:
    """The body as a list of _Line and _Bar (bars between bar lines, empty ones dropped)."""
    lines = []
    for line in body.split("\n"):
        line = line.split("%")[0]
        match = _FIELD.match(line)
        if match and match[1] in "ML":  # a field line in the body: as an inline field
            lines.append(f"[{match[1]}:{match[2]}]")
        elif not match:
            lines.append(line)
    music = without_pause_marks(" ".join(lines))
    items: list = [_Line()]
    unit_ticks = round(unit * WHOLE)
    total, i, tuplet = 0, 0, (1, 1, 0)  # a tuplet: q notes' time for p, r notes left

    def close(line: _Line) -> None:
        nonlocal total
        if total > 0:
            items.append(_Bar(total, meter))
            items.append(line)
        else:  # two bar lines with nothing between: one bar line
            previous = items[-1]
            previous.end |= line.end
            previous.start |= line.start
            previous.double |= line.double
            previous.ending = previous.ending or line.ending
        total = 0

    while i < len(music):
        char = music[i]
        bar = _BAR.match(music, i) if char in "|:[" else None
        if bar and bar.group():
            text = bar.group()
            line = _Line(
                end=text.startswith(":"),
                start=text.endswith(":"),
                double=any(d in text for d in ("||", "|]", "[|")),
            )
            i = bar.end()
            ending = _ENDING.match(music, i)
            if ending:
                line.ending, i = int(ending[1]), ending.end()
            close(line)
        elif char == "[" and music[i + 1 : i + 2].isdigit():  # `[2` after a bar line's space
            if total > 0:
                close(_Line())
            items[-1].ending = int(music[i + 1])
            i += 2
        elif char in _SKIPPED:
            end = music.find(_SKIPPED[char], i + 1)
            i = len(music) if end < 0 else end + 1
        elif char == "[" and re.match(r"\[[A-Za-z]:", music[i:]):
            end = music.find("]", i)
            field = music[i + 1 : end if end > 0 else len(music)]
            if field[0] == "M":
                meter = _signature(field[2:].strip())
                if meter is None:
                    return None
            elif field[0] == "L":
                unit = _unit(field[2:].strip(), meter)
                unit_ticks = round(unit * WHOLE)
            i = len(music) if end < 0 else end + 1
        elif char == "[":
            length, i = _chord(music, i, unit)
            total += round(length * WHOLE * tuplet[0] / tuplet[1])
            tuplet = _spend(tuplet)
        elif char == "(" and i + 1 < len(music) and music[i + 1].isdigit():
            match = _TUPLET.match(music, i)
            p = int(match[1])
            q = int(match[2]) if match[2] else _TUPLET_Q.get(p, 2)
            r = int(match[3]) if match[3] else p
            tuplet, i = (q, p, r), match.end()
        elif char == "Z":  # multi-bar rests: not modelled
            return None
        else:
            match = _NOTE.match(music, i)
            if match and match[2] != "y":
                total += _ticks(match[3], match[4], match[5], unit_ticks, tuplet[0], tuplet[1])
                tuplet = _spend(tuplet)
            i = match.end() if match else i + 1
    if total > 0:
        items.append(_Bar(total, meter))
    return items


def _spend(tuplet: tuple[int, int, int]) -> tuple[int, int, int]:
    q, p, left = tuplet
    return (q, p, left - 1) if left > 1 else (1, 1, 0)


def _expand(items: list) -> list[_Bar]:
    """Play the bars in abc2midi's order (see the module's rules)."""
    played: list[_Bar] = []
    start, time, explicit, ended, used, i = 1, 1, False, False, set(), 0
    for _ in range(64 * len(items)):  # each `:|` jumps back once: bounded, but be sure
        if i >= len(items):
            break
        item = items[i]
        if isinstance(item, _Bar):
            played.append(item)
            i += 1
            continue
        if item.end and i not in used and time <= 2:  # back to the repeat's start
            used.add(i)
            time, i = time + 1, start
            continue
        if item.end and time == 2:  # the repeat is done
            time, ended, explicit, start = 1, True, False, i + 1
        if item.start:
            time, explicit, start = 1, True, i + 1
        elif item.double and ended and time == 1 and not explicit:
            start = i + 1
        i = _ending(items, i, time)
    return played


def _ending(items: list, i: int, time: int) -> int:
    """Where play goes on after bar line i: past the endings that are not this time's.

    A first ending is skipped up to its `:|` (the ending marked there is looked at, the repeat
    sign is not); a later one up to the next double bar or repeat sign, which is played."""
    while items[i].ending and items[i].ending != time:
        wanted = "end" if items[i].ending == 1 else "any"
        j = i + 1
        while j < len(items) and not (
            isinstance(items[j], _Line)
            and (items[j].end or (wanted == "any" and (items[j].double or items[j].start)))
        ):
            j += 1
        if j >= len(items):
            return j
        if wanted == "any":
            return j  # that bar line is played as any other
        i = j
    return i + 1


def counted(bars: list[_Bar]) -> list[_Bar]:
    """The bars a musician counts: an over-full bar is as many whole bars as it holds and the
    rest (a missing bar line, a pickup written inside the bar: music21 reads it so too), and
    two short bars that make at most a bar are one (the bar before a repeat, the pickup after).
    """
    split: list[_Bar] = []
    for bar in bars:
        full, length = bar.full, bar.length
        while length > full:
            split.append(_Bar(full, bar.signature))
            length -= full
        split.append(_Bar(length, bar.signature))
    merged: list[_Bar] = []
    for bar in split:
        last = merged[-1] if merged else None
        if (
            last is not None
            and len(merged) > 1  # never the pickup
            and last.signature == bar.signature
            and last.length < last.full
            and last.length + bar.length <= bar.full  # so the bar after is short too
        ):
            merged[-1] = _Bar(last.length + bar.length, bar.signature)
        else:
            merged.append(bar)
    return merged


def bar_meter(bars: list[_Bar], steps_per_quarter: int) -> tuple[Meter, int, int]:
    """(meter on the step grid, lead, steps the bars last) from the counted bars.

    Step 0 is a bar line: a short first bar is the pickup, after `lead` silent steps. A short bar
    later on is read in its signature from its start (a bar cut short), and the bar after it
    restarts the signature: that bar line is a change of `Meter` (to the same signature).
    """
    first = bars[0]
    whole = 4 * steps_per_quarter  # steps of a whole note
    pickup = first.length < first.full and len(bars) > 1  # else a short tune
    lead = round((first.full - first.length) * whole / WHOLE) if pickup else 0
    changes: list[tuple[int, TimeSignature]] = [(0, first.signature)]
    at = lead * WHOLE // whole  # ticks from step 0 (a lead is a whole number of steps)
    regular = True  # the current change's bar lines fall where the bars start
    for index, bar in enumerate(bars):
        step = round(at * whole / WHOLE)
        last_step, current = changes[-1]
        if index == 0:
            changes[0] = (0, bar.signature)
        else:
            on_grid = regular and (step - last_step) % current.bar_steps(steps_per_quarter) == 0
            if changes[-1][0] == step:  # a sliver of a bar, shorter than a step: gone
                changes[-1] = (step, bar.signature)
            elif not on_grid or current != bar.signature:
                changes.append((step, bar.signature))
        regular = index == 0 or bar.length == bar.full
        at += bar.length
    return Meter(tuple(changes)), lead, round(at * whole / WHOLE) - lead
