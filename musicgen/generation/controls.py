"""Sampling controls on the model's grid: `--key D:minor`, `--pitch-range 55:84`, `--max-polyphony 1`.

They become one `Controls` (mg.models.heads): a mask of the pitches allowed to sound and a cap
on simultaneous pitches, which every head obeys exactly as it samples (a generated frame never
breaks a constraint it was given).
"""

from __future__ import annotations

import torch

from mg.models.heads import Controls
from mg.representation.grid import Grid

TONICS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
MODES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "ionian": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "aeolian": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "locrian": (0, 1, 3, 5, 6, 8, 10),
    "harmonic-minor": (0, 2, 3, 5, 7, 8, 11),
    "pentatonic": (0, 2, 4, 7, 9),
    "minor-pentatonic": (0, 3, 5, 7, 10),
}


def key_pitch_classes(key: str) -> set[int]:
    """'D:minor', 'F#:dorian', 'Bb' (major) → the scale's pitch classes; ValueError names the forms."""
    tonic, _, mode = key.partition(":")
    mode = (mode or "major").strip().lower()
    name = tonic.strip()
    if not name or name[0].upper() not in TONICS or mode not in MODES:
        raise ValueError(
            f"--key {key!r}: expected TONIC[:MODE], tonic A-G with # or b, mode one of "
            f"{', '.join(MODES)}"
        )
    shift = {"#": 1, "b": -1}
    accidentals = name[1:]
    if any(a not in shift for a in accidentals):
        raise ValueError(f"--key {key!r}: the tonic takes only # or b after its letter")
    root = TONICS[name[0].upper()] + sum(shift[a] for a in accidentals)
    return {(root + step) % 12 for step in MODES[mode]}


def parse_pitch_range(text: str) -> tuple[int, int]:
    """'55:84' → (55, 84), MIDI pitches inclusive."""
    low, sep, high = text.partition(":")
    try:
        pair = (int(low), int(high))
    except ValueError:
        pair = None
    if not sep or pair is None or not 0 <= pair[0] <= pair[1] <= 127:
        raise ValueError(
            f"--pitch-range {text!r}: expected LOW:HIGH, MIDI pitches 0..127, LOW <= HIGH"
        )
    return pair


def make_controls(
    grid: Grid,
    temperature: float = 1.0,
    top_p: float = 1.0,
    key: str | None = None,
    pitch_range: str | None = None,
    max_polyphony: int | None = None,
) -> Controls:
    """The `Controls` of these options on `grid`; a ValueError says what is wrong."""
    pitches = torch.arange(grid.low, grid.high + 1)
    allowed = torch.ones(grid.alpha, dtype=torch.bool)
    if key is not None:
        classes = torch.tensor(sorted(key_pitch_classes(key)))
        allowed &= torch.isin(pitches % 12, classes)
    if pitch_range is not None:
        low, high = parse_pitch_range(pitch_range)
        allowed &= (pitches >= low) & (pitches <= high)
    if not allowed.any():
        raise ValueError(f"no pitch of the model's range {grid.low}..{grid.high} is allowed")
    if max_polyphony is not None and max_polyphony < 1:
        raise ValueError(f"--max-polyphony {max_polyphony}: must be at least 1")
    constrained = key is not None or pitch_range is not None
    return Controls(temperature, top_p, allowed if constrained else None, max_polyphony)
