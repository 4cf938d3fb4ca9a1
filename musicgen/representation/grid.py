"""The time and pitch grid of the representation: the one place that defines ε, ζ, η and α.

ε counts steps per quarter note (the MIDI beat) whatever the meter: a bar of n/d lasts
n·4/d quarters, so a 6/8 bar is 12 steps at ε = 4 and its dotted-quarter beat 6 steps. ζ and η
size a segment (T = ε·ζ·η steps, 16 bars of ζ/4); the bars inside it are the music's own
(`meter = "score"`), or every bar is ζ quarters (`meter = "fixed"`, the grid before schema 2).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

METER_MODES = ("score", "fixed")


@dataclass(frozen=True)
class Grid:
    """ε steps per beat, ζ beats per bar, η bars per segment, MIDI pitches low..high inclusive.

    `max_steps` caps a piece (longer pieces are truncated, and the truncation is counted);
    `absurd_steps` is the length beyond which a file is rejected before anything is allocated.
    """

    steps_per_beat: int = 4
    beats_per_bar: int = 4
    bars: int = 16
    low: int = 21
    high: int = 108
    max_steps: int = 16_384
    absurd_steps: int = 1_000_000
    meter: str = "score"  # bar lines from the music's time signatures, or "fixed" ζ/4 bars
    common_meter: str = "4/4"  # the dataset's most common time signature: generation's default

    def __post_init__(self) -> None:
        if min(self.steps_per_beat, self.beats_per_bar, self.bars) < 1:
            raise ValueError(f"grid sizes must be positive: {self}")
        if not 0 <= self.low <= self.high <= 127:
            raise ValueError(f"pitch range must lie within 0..127 and low <= high: {self}")
        if self.max_steps < 1 or self.absurd_steps < self.max_steps:
            raise ValueError(f"need 1 <= max_steps <= absurd_steps: {self}")
        if self.meter not in METER_MODES:
            raise ValueError(f"meter must be one of {', '.join(METER_MODES)}, got {self.meter!r}")

    @property
    def alpha(self) -> int:
        """Number of pitches α."""
        return self.high - self.low + 1

    @property
    def gamma(self) -> int:
        """Positions per bar γ = ε·ζ."""
        return self.steps_per_beat * self.beats_per_bar

    @property
    def position_width(self) -> int:
        """Rows of the position matrix P_t (see `mg.representation.position`)."""
        from mg.representation.position import position_width

        return position_width(self.steps_per_beat)

    @property
    def segment_steps(self) -> int:
        """Steps per segment T = ε·ζ·η."""
        return self.gamma * self.bars

    @property
    def ticks_per_beat(self) -> int:
        """MIDI resolution used when decoding: a whole number of ticks per step."""
        return 120 * self.steps_per_beat

    def to_dict(self) -> dict[str, int | str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Grid:
        kinds = {f.name: (str if f.type in ("str", str) else int) for f in fields(cls)}
        return cls(**{k: kinds[k](v) for k, v in data.items() if k in kinds})

    def same_tensors(self, other: Grid) -> bool:
        """True when both grids give tensors of the same meaning (ignores the length caps)."""
        keys = ("steps_per_beat", "beats_per_bar", "bars", "low", "high", "meter")
        return all(getattr(self, k) == getattr(other, k) for k in keys)

    @classmethod
    def parse_pitch_range(cls, text: str) -> tuple[int, int]:
        """'21:108' -> (21, 108)."""
        low, _, high = text.partition(":")
        try:
            return int(low), int(high)
        except ValueError:
            raise ValueError(f"pitch range must look like LOW:HIGH, got {text!r}") from None
