"""Bar lines from the music: time signatures, their changes and the pickup (anacrusis).

A piece's `Meter` is its time signatures on the step grid, each from the step where it takes
effect; the first is at step 0, which is a bar line. A pickup is placed before the first full
bar by silent lead-in steps (`with_lead`), so a pickup of one eighth in 6/8 sits on the last two
steps of bar 0 and the first full bar starts on a bar line, as a musician counts it.

ε counts steps per quarter (see `Grid`): a bar of n/d lasts n·4·ε/d steps. Compound meters
(n divisible by 3 and above 3: 6/8, 9/8, 12/8, 6/4, …) beat in dotted notes (three 1/d notes),
simple ones in 1/d notes.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from mg.representation.grid import Grid


@dataclass(frozen=True, order=True)
class TimeSignature:
    numerator: int
    denominator: int

    def __post_init__(self) -> None:
        if self.numerator < 1 or self.denominator < 1:
            raise ValueError(f"invalid time signature {self.numerator}/{self.denominator}")

    @classmethod
    def parse(cls, text: str) -> TimeSignature:
        """'6/8' -> TimeSignature(6, 8); 'C' is 4/4 and 'C|' 2/2, as in ABC."""
        text = text.strip()
        if text in ("C", "C|"):
            return cls(4, 4) if text == "C" else cls(2, 2)
        top, sep, bottom = text.partition("/")
        try:
            return cls(int(top), int(bottom))
        except ValueError:
            raise ValueError(f"a time signature looks like 6/8, got {text!r}") from None

    def __str__(self) -> str:
        return f"{self.numerator}/{self.denominator}"

    @property
    def compound(self) -> bool:
        return self.numerator % 3 == 0 and self.numerator > 3

    @property
    def bar_length(self) -> Fraction:
        """Length of a bar in whole notes."""
        return Fraction(self.numerator, self.denominator)

    def bar_steps(self, steps_per_quarter: int) -> int:
        return max(1, round(self.numerator * 4 * steps_per_quarter / self.denominator))

    def beat_steps(self, steps_per_quarter: int) -> int:
        unit = 3 if self.compound else 1
        return max(1, round(unit * 4 * steps_per_quarter / self.denominator))


FOUR_FOUR = TimeSignature(4, 4)


@dataclass(frozen=True)
class Meter:
    """Time signatures from the step where each takes effect; the first at step 0.

    Every change starts a bar, so a change to the same signature off its bar lines restarts
    the bar: the bar before it is short (a written short bar of an ABC tune, `abc_bars`)."""

    changes: tuple[tuple[int, TimeSignature], ...] = ((0, FOUR_FOUR),)

    def __post_init__(self) -> None:
        if not self.changes or self.changes[0][0] != 0:
            raise ValueError(f"a meter starts at step 0: {self.changes}")

    @classmethod
    def constant(cls, signature: TimeSignature | str) -> Meter:
        if isinstance(signature, str):
            signature = TimeSignature.parse(signature)
        return cls(((0, signature),))

    @classmethod
    def from_steps(
        cls, changes: list[tuple[int, TimeSignature]], steps_per_quarter: int = 0
    ) -> Meter:
        """Changes at any steps: sorted, the last of several at one step wins, the first
        signature extended back to step 0, a repeat of the same signature dropped where it
        falls on a bar line anyway (one off the bar lines starts a bar: the bar before it is
        short, as `abc_bars` writes a short bar; `steps_per_quarter` places the bar lines)."""
        if not changes:
            return cls()
        by_step = dict(sorted(changes, key=lambda c: c[0]))
        ordered = sorted(by_step.items())
        kept = [(0, ordered[0][1])]
        for step, signature in ordered[1:]:
            if step <= 0:
                kept[0] = (0, signature)
            elif signature != kept[-1][1] or (
                steps_per_quarter and (step - kept[-1][0]) % signature.bar_steps(steps_per_quarter)
            ):
                kept.append((step, signature))
        return cls(tuple(kept))

    @property
    def first(self) -> TimeSignature:
        return self.changes[0][1]

    def signatures(self) -> list[TimeSignature]:
        return [signature for _, signature in self.changes]

    def shifted(self, lead: int) -> Meter:
        """The meter after `lead` silent steps were put before the music."""
        if lead == 0:
            return self
        return Meter(((0, self.first), *((s + lead, sig) for s, sig in self.changes[1:])))

    def bar_lines(self, steps: int, steps_per_quarter: int) -> np.ndarray:
        """Steps in [0, steps) where a bar starts: every change starts a bar."""
        ends = [s for s, _ in self.changes[1:]] + [max(steps, 1)]
        lines = [
            np.arange(start, min(end, steps), signature.bar_steps(steps_per_quarter))
            for (start, signature), end in zip(self.changes, ends, strict=True)
        ]
        return np.concatenate(lines).astype(np.int64)

    def to_json(self) -> list[list]:
        return [[step, str(signature)] for step, signature in self.changes]

    @classmethod
    def from_json(cls, data: list) -> Meter:
        return cls(tuple((int(step), TimeSignature.parse(text)) for step, text in data))


def grid_meter(meter: Meter | None, grid: Grid) -> Meter:
    """The meter the grid uses for a piece: its own, or ζ/4 throughout with `meter="fixed"`."""
    if grid.meter == "fixed" or meter is None:
        return Meter.constant(TimeSignature(grid.beats_per_bar, 4))
    return meter


def meter_from_ticks(
    signatures: list[tuple[int, int, int]], ticks_per_step: float, steps_per_quarter: int = 0
) -> Meter:
    """MIDI time signature events (tick, numerator, denominator) -> the meter on the step grid.

    A broken event (numerator or denominator 0) is ignored rather than the file; no event
    means 4/4, as in MIDI.
    """
    changes = []
    for tick, numerator, denominator in signatures:
        try:
            signature = TimeSignature(int(numerator), int(denominator))
        except ValueError:
            continue
        changes.append((int(round(tick / ticks_per_step)), signature))
    return Meter.from_steps(changes, steps_per_quarter)


def lead_for_pickup(pickup: int, meter: Meter, steps_per_quarter: int) -> int:
    """Silent steps to put before a pickup of `pickup` steps so that it ends on a bar line."""
    bar = meter.first.bar_steps(steps_per_quarter)
    return (bar - pickup) % bar if 0 < pickup < bar else 0


def with_lead(notes: np.ndarray, meter: Meter, lead: int) -> tuple[np.ndarray, Meter]:
    """Put `lead` silent steps before the music; the meter moves with it."""
    if lead <= 0:
        return notes, meter
    padded = np.zeros((len(notes) + lead,) + notes.shape[1:], dtype=notes.dtype)
    padded[lead:] = notes
    return padded, meter.shifted(lead)


def counted_bars(meter: Meter, steps: int, steps_per_quarter: int, lead: int) -> int:
    """Bars a musician counts: every bar the music reaches, the pickup's partial bar excluded."""
    lines = meter.bar_lines(steps, steps_per_quarter)
    return max(0, len(lines) - (1 if lead > 0 else 0))
