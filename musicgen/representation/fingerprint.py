"""The musical fingerprint of a tune: what decides its split, whatever its key, tempo or file.

The same tune printed in two books, or in two keys, must land in one split, or the test split
holds music the model trained on. The fingerprint is a hash of the opening of the top line:
the pitch interval to each new top note and the time to it, counted in the tune's most common
time between top notes (so halved or doubled note values agree). Transposition, tempo, the
file, the pickup's lead-in and everything after the opening do not enter it; tunes that share
an opening share a split, which costs nothing.

The opening alone misses the same tune printed with another pickup or first bar, so a tune also
has phrase fingerprints (`phrase_fingerprints`): a hash of every run of `PHRASE_NOTES` top-line
intervals (the same words, the rhythm counted in the most common gap of the whole tune), of
which winnowing keeps the smallest of every `WINNOW` consecutive ones. Two tunes that share a
stretch of `PHRASE_NOTES + WINNOW` top-line notes share a kept fingerprint, whatever the notes
around it, and a tune keeps a few dozen of them, not one per note. Runs too plain to tell
tunes apart (a scale, repeated notes, a trill) are not fingerprinted: `informative`. Ingest
joins the tunes that share phrases into one split group (`mg.pipelines.groups`).
"""

from __future__ import annotations

import functools
import hashlib
from collections import Counter

import numpy as np

OPENING_NOTES = 24  # top-line notes the fingerprint reads (about 3 to 6 bars of a folk tune)
PHRASE_NOTES = 16  # top-line intervals per phrase window (two bars of a reel)
WINNOW = 8  # of every WINNOW consecutive phrase windows, the smallest hash is kept
MIN_TURNS = 3  # an informative window changes direction at least this often
MIN_INTERVALS = 3  # and has at least this many different intervals
_PLAIN = int(np.iinfo(np.uint64).max)  # the hash of a run too plain to keep


def top_line(notes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(onset steps, pitch indices) of the highest sounding pitch, each time it changes or is
    struck again."""
    steps = np.arange(len(notes))
    # only the pitches ever pressed are searched (a tune presses a third of the 88 keys)
    used = np.flatnonzero(notes.max(axis=0)[:, 0]) if notes.size else ()
    if not len(used):
        return steps[:0], steps[:0]
    low, high = int(used[0]), int(used[-1]) + 1
    band = notes[:, low:high]
    pressed = band[..., 0] > 0
    sounding = pressed.any(axis=1)
    top = np.where(sounding, high - 1 - np.argmax(pressed[:, ::-1], axis=1), -1)
    struck = (band[steps, np.maximum(top - low, 0), 1] > 0) & sounding
    previous = np.empty_like(top)
    previous[:1], previous[1:] = -1, top[:-1]
    onset = sounding & ((top != previous) | struck)
    return steps[onset], top[onset]


def fingerprint(notes: np.ndarray, opening: int = OPENING_NOTES) -> str:
    """A 16-hex-digit key of the tune's opening intervals and rhythm (see the module doc)."""
    return _opening_key(notes, *_opening(notes, opening + 1), opening)


def fingerprints(notes: np.ndarray) -> tuple[str, tuple[str, ...]]:
    """(`fingerprint`, `phrase_fingerprints`) of a tune, from one pass over its top line."""
    onsets, pitches = top_line(notes)
    return _opening_key(notes, onsets, pitches), _phrases(onsets, pitches)


def _opening_key(
    notes: np.ndarray, onsets: np.ndarray, pitches: np.ndarray, opening: int = OPENING_NOTES
) -> str:
    words = _words(onsets[: opening + 1], pitches[: opening + 1])
    text = " ".join(words).encode() if words else np.ascontiguousarray(notes).tobytes()
    return hashlib.blake2b(text, digest_size=8).hexdigest()


def _opening(notes: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """`top_line`'s first `count` onsets (or all, when fewer), from as few steps as give them:
    a step's onset depends on that step and the one before only, so the top line of the first
    steps is the start of the whole one."""
    steps = 256
    while True:
        onsets, pitches = top_line(notes[:steps])
        if len(onsets) >= count or steps >= len(notes):
            return onsets, pitches
        steps *= 4


def _words(onsets: np.ndarray, pitches: np.ndarray) -> list[str]:
    """'interval:gap' per top-line note after the first, the gap in the most common gap."""
    gaps = np.diff(onsets)
    unit = Counter(gaps.tolist()).most_common(1)[0][0] if len(gaps) else 1
    # numpy's rounding, all at once (a float64 scalar's round() is numpy's, and slow one by one)
    ratios = np.round(gaps / unit, 2).tolist()
    return [f"{i}:{r}" for i, r in zip(np.diff(pitches).tolist(), ratios, strict=True)]


def informative(intervals: np.ndarray) -> bool:
    """A run of intervals that could tell two tunes apart: it changes direction at least
    MIN_TURNS times and uses at least MIN_INTERVALS different intervals (a scale run, repeated
    notes or a trill do not; nearly every phrase of a real tune does)."""
    intervals = np.asarray(intervals)
    return bool(_informative(intervals, len(intervals))[0])


def _informative(intervals: np.ndarray, window: int) -> np.ndarray:
    """`informative` of every run of `window` intervals of 1-D `intervals`, as booleans.

    Counted for all runs at once, without a row per run: an interval is a turn (its move
    differs from the last move before it, repeated notes skipped) in the runs that hold both
    it and that move, and it is a run's last copy of its value in the runs that hold it but
    not its next copy; each gives a range of runs, and the ranges are summed."""
    count, runs = len(intervals), len(intervals) - window + 1
    at = np.arange(count)
    moves = np.sign(intervals)
    moving = moves != 0
    last = np.maximum.accumulate(np.where(moving, at, -1))  # the last move at or before
    before = np.empty_like(last)
    before[:1], before[1:] = -1, last[:-1]
    turn = moving & (before >= 0) & (moves != moves[np.maximum(before, 0)])
    first = np.maximum(at - window + 1, 0)  # the first run that holds each interval
    turns = _in_ranges(first[turn], np.minimum(before[turn], runs - 1), runs)
    order = np.argsort(intervals, kind="stable")
    following = np.full(count, count + window)  # the next copy of each value (none: past all)
    same = intervals[order[1:]] == intervals[order[:-1]]
    following[order[:-1][same]] = order[1:][same]
    last_copy = np.minimum(np.minimum(at, following - window), runs - 1)
    distinct = _in_ranges(first, last_copy, runs)
    return (turns >= MIN_TURNS) & (distinct >= MIN_INTERVALS)


def _in_ranges(low: np.ndarray, high: np.ndarray, runs: int) -> np.ndarray:
    """For each of 0 … runs-1, how many of the ranges [low, high] hold it (empty where
    low > high)."""
    keep = low <= high
    edges = np.bincount(low[keep], minlength=runs + 1)[: runs + 1]
    edges -= np.bincount(high[keep] + 1, minlength=runs + 1)[: runs + 1]
    return np.cumsum(edges[:runs])


_SHIFTS = tuple(np.uint64(n) for n in (30, 27, 31))
_FACTORS = tuple(np.uint64(n) for n in (0xBF58476D1CE4E5B9, 0x94D049BB133111EB))


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads 64-bit values evenly (wrapping uint64 arithmetic, the same
    on every machine)."""
    z = values.astype(np.uint64)  # a copy, then updated in place
    with np.errstate(over="ignore"):
        z ^= z >> _SHIFTS[0]
        z *= _FACTORS[0]
        z ^= z >> _SHIFTS[1]
        z *= _FACTORS[1]
        z ^= z >> _SHIFTS[2]
    return z


@functools.cache
def _powers(window: int) -> np.ndarray:
    """The weight of each place in a window's hash (read-only: shared)."""
    powers = _mix(np.arange(1, window + 1, dtype=np.uint64))
    powers.flags.writeable = False
    return powers


def _windows(values: np.ndarray, window: int) -> np.ndarray:
    """Every run of `window` consecutive values of a 1-D array: [len - window + 1, window], a
    read-only view (`sliding_window_view`'s, without its checks: these run per tune)."""
    stride = values.strides[0]
    shape = (len(values) - window + 1, window)
    return np.lib.stride_tricks.as_strided(values, shape, (stride, stride), writeable=False)


def phrase_fingerprints(
    notes: np.ndarray, window: int = PHRASE_NOTES, winnow: int = WINNOW
) -> tuple[str, ...]:
    """The tune's kept phrase fingerprints, sorted, each 16 hex digits (see the module doc).

    Every run of `window` top-line intervals is hashed (transposition- and tempo-invariant, as
    the opening: interval and gap in the tune's most common gap, to 1/100); of every `winnow`
    consecutive runs the smallest informative hash is kept. A tune with fewer than `window`
    intervals has none (its opening fingerprint stands alone). Vectorised: a few hundred
    microseconds for a tune of a thousand notes.
    """
    return _phrases(*top_line(notes), window, winnow)


def _phrases(
    onsets: np.ndarray, pitches: np.ndarray, window: int = PHRASE_NOTES, winnow: int = WINNOW
) -> tuple[str, ...]:
    intervals = np.diff(pitches.astype(np.int64))
    if len(intervals) < window:
        return ()
    gaps = np.diff(onsets)
    unit = Counter(gaps.tolist()).most_common(1)[0][0]
    rhythm = np.rint(gaps * 100 / unit).astype(np.int64)
    words = _mix(((intervals + 256) << 32) | rhythm)
    with np.errstate(over="ignore"):
        hashes = _mix((_windows(words, window) * _powers(window)).sum(axis=1, dtype=np.uint64))
    hashes[~_informative(intervals, window)] = _PLAIN
    if len(hashes) > winnow:
        hashes = _windows(hashes, winnow).min(axis=1)
    else:
        hashes = hashes.min(keepdims=True)
    return tuple(f"{h:016x}" for h in np.unique(hashes).tolist() if h != _PLAIN)
