"""The musical fingerprint of a tune: what decides its split, whatever its key, tempo or file.

The same tune printed in two books, or in two keys, must land in one split, or the test split
holds music the model trained on. The fingerprint is a hash of the opening of the top line:
the pitch interval to each new top note and the time to it, counted in the tune's most common
time between top notes (so halved or doubled note values agree). Transposition, tempo, the
file, the pickup's lead-in and everything after the opening do not enter it; tunes that share
an opening share a split, which costs nothing.
"""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np

OPENING_NOTES = 24  # top-line notes the fingerprint reads (about 3 to 6 bars of a folk tune)


def top_line(notes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(onset steps, pitch indices) of the highest sounding pitch, each time it changes or is
    struck again."""
    pressed, articulated = notes[..., 0] > 0, notes[..., 1] > 0
    sounding = pressed.any(axis=1)
    top = np.where(sounding, notes.shape[1] - 1 - np.argmax(pressed[:, ::-1], axis=1), -1)
    steps = np.arange(len(notes))
    struck = articulated[steps, np.maximum(top, 0)] & sounding
    previous = np.concatenate([[-1], top[:-1]])
    onset = sounding & ((top != previous) | struck)
    return steps[onset], top[onset]


def fingerprint(notes: np.ndarray, opening: int = OPENING_NOTES) -> str:
    """A 16-hex-digit key of the tune's opening intervals and rhythm (see the module doc)."""
    onsets, pitches = top_line(notes)
    onsets, pitches = onsets[: opening + 1], pitches[: opening + 1]
    gaps = np.diff(onsets)
    unit = Counter(gaps.tolist()).most_common(1)[0][0] if len(gaps) else 1
    words = [f"{int(i)}:{round(g / unit, 2)}" for i, g in zip(np.diff(pitches), gaps, strict=True)]
    text = " ".join(words).encode() if words else np.ascontiguousarray(notes).tobytes()
    return hashlib.blake2b(text, digest_size=8).hexdigest()
