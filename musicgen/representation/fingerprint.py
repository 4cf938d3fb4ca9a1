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
    if not notes.size:
        return steps[:0], steps[:0]
    # a step's depth: how far below the highest pitch its top pressed one is, -1 when silent.
    # Searched over all the pitches: a step's pitches share its cache lines, so a narrower band
    # reads as much, and finding the band costs a pass over the whole piece more
    top = notes.shape[1] - 1
    pressed = notes[:, ::-1, 0] > 0
    depth = pressed.argmax(axis=1)
    sounding = pressed[steps, depth]
    struck = notes[steps, top - depth, 1] > 0
    depth = np.where(sounding, depth, -1)
    previous = np.empty_like(depth)
    previous[:1], previous[1:] = -1, depth[:-1]
    onset = sounding & ((depth != previous) | struck)
    at = steps[onset]
    return at, top - depth[at]


def fingerprint(notes: np.ndarray, opening: int = OPENING_NOTES) -> str:
    """A 16-hex-digit key of the tune's opening intervals and rhythm (see the module doc)."""
    return _opening_key(notes, *_opening(notes, opening + 1), opening)


def fingerprints(notes: np.ndarray) -> tuple[str, tuple[str, ...]]:
    """(`fingerprint`, `phrase_fingerprints`) of a tune, from one pass over its top line."""
    opening, hashes = fingerprint_hashes(notes)
    return opening, phrase_texts(hashes)


def fingerprint_hashes(notes: np.ndarray) -> tuple[str, np.ndarray]:
    """`fingerprints` with the phrase fingerprints as their uint64 values (`phrase_hashes`)."""
    onsets, pitches = top_line(notes)
    return _opening_key(notes, onsets, pitches), _phrase_hashes(onsets, pitches)


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
    gaps = onsets[1:] - onsets[:-1]
    unit = _most_common(gaps) if len(gaps) else 1
    # numpy's rounding, all at once (a float64 scalar's round() is numpy's, and slow one by one)
    ratios = (gaps / unit).round(2).tolist()
    return list(map("{}:{}".format, (pitches[1:] - pitches[:-1]).tolist(), ratios))


def _most_common(gaps: np.ndarray) -> int:
    """The most common of positive integers, the first seen of the ties (`Counter.most_common`'s
    pick, counted in numpy)."""
    seen = np.bincount(gaps)[gaps]  # how often each one's value occurs
    return int(gaps[seen.argmax()])  # argmax: the first of the most


def informative(intervals: np.ndarray) -> bool:
    """A run of intervals that could tell two tunes apart: it changes direction at least
    MIN_TURNS times and uses at least MIN_INTERVALS different intervals (a scale run, repeated
    notes or a trill do not; nearly every phrase of a real tune does)."""
    intervals = np.asarray(intervals)
    return bool(_informative(intervals, len(intervals))[0])


def _informative(intervals: np.ndarray, window: int) -> np.ndarray:
    """`informative` of every run of `window` intervals of 1-D `intervals`, as booleans.

    Counted for all runs at once, without a row per run, from pairs of intervals: a turn (a
    move, repeated notes skipped, and the move before it, of the other direction) counts in
    the runs that hold both; an interval and the next copy of its value are a pair too, and a
    run's distinct intervals are its length less the pairs it holds. A run r holds a pair
    (a, b) when r <= a and b <= r + window - 1: for a pair shorter than a run, the pairs whose
    b is at most r + window - 1 less those whose a is under r, both prefix sums (a longer
    pair's two ends are put at one place, where they cancel)."""
    count, runs = len(intervals), len(intervals) - window + 1
    if window < 1:  # runs of nothing: no turn, no interval
        return np.full(max(runs, 0), MIN_TURNS <= 0 and MIN_INTERVALS <= 0)
    moves = np.sign(intervals)
    moving = moves.nonzero()[0]
    directions = moves[moving]
    turn = (directions[1:] != directions[:-1]).nonzero()[0]  # moving[turn + 1] is a turn
    order = intervals.argsort(kind="stable")
    ordered = intervals[order]
    again = (ordered[1:] == ordered[:-1]).nonzero()[0]  # order[again + 1] is a next copy
    apart = count + window  # the copies' pairs are counted apart, after the turns'
    ends = np.concatenate((moving[turn + 1], order[again + 1] + apart))
    starts = np.concatenate((moving[turn], order[again] + apart))
    starts += window
    np.maximum(starts, ends, out=starts)
    size = 2 * apart
    held = (np.bincount(ends, minlength=size) - np.bincount(starts, minlength=size)).cumsum()
    turns = held[window - 1 : count]
    distinct = window - held[apart + window - 1 : apart + count]
    return (turns >= MIN_TURNS) & (distinct >= MIN_INTERVALS)


_SHIFTS = tuple(np.uint64(n) for n in (30, 27, 31))
_FACTORS = tuple(np.uint64(n) for n in (0xBF58476D1CE4E5B9, 0x94D049BB133111EB))


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads 64-bit values evenly (wrapping uint64 arithmetic, the same
    on every machine; numpy checks no overflow of an array's integers)."""
    return _mixed(values.astype(np.uint64))  # a copy, then updated in place


def _mixed(z: np.ndarray) -> np.ndarray:
    """`_mix` of a uint64 array, in place."""
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
    return phrase_texts(phrase_hashes(notes, window, winnow))


def phrase_hashes(
    notes: np.ndarray, window: int = PHRASE_NOTES, winnow: int = WINNOW
) -> np.ndarray:
    """`phrase_fingerprints` as their values: a sorted uint64 array (what ingest joins tunes
    by: no text made to be read back as a number)."""
    return _phrase_hashes(*top_line(notes), window, winnow)


def phrase_texts(hashes: np.ndarray) -> tuple[str, ...]:
    """uint64 phrase hashes -> their fingerprints, each 16 hex digits (big-endian: f"{h:016x}")."""
    text = hashes.astype(">u8").tobytes().hex()
    return tuple(text[i : i + 16] for i in range(0, len(text), 16))


def _phrase_hashes(
    onsets: np.ndarray, pitches: np.ndarray, window: int = PHRASE_NOTES, winnow: int = WINNOW
) -> np.ndarray:
    pitches = np.asarray(pitches, np.int64)
    intervals = pitches[1:] - pitches[:-1]
    if len(intervals) < window:
        return np.zeros(0, np.uint64)
    gaps = onsets[1:] - onsets[:-1]
    rhythm = np.rint(gaps * 100 / _most_common(gaps)).astype(np.int64)
    words = intervals + 256
    words <<= 32
    words |= rhythm
    words = _mixed(words.view(np.uint64))
    # every run's sum of word x place weight (`correlate`: uint64 sums, wrapping as `_mix`)
    hashes = _mixed(np.correlate(words, _powers(window)))
    hashes[~_informative(intervals, window)] = _PLAIN
    hashes = _window_min(hashes, min(winnow, len(hashes)))  # fewer runs: their least
    hashes.sort()
    kept = np.empty(len(hashes), bool)
    kept[:1] = True
    np.not_equal(hashes[1:], hashes[:-1], out=kept[1:])
    hashes = hashes[kept]  # np.unique's, without its checks
    if hashes[-1] == _PLAIN:
        hashes = hashes[:-1]
    return hashes


def _window_min(values: np.ndarray, window: int) -> np.ndarray:
    """The minimum of every run of `window` values (1 <= window <= len), by doubling spans: a
    few whole-array minimums instead of a reduction of each run."""
    span = 1
    while span * 2 <= window:
        values = np.minimum(values[:-span], values[span:])
        span *= 2
    if span < window:  # two overlapping spans cover the window
        rest = window - span
        values = np.minimum(values[:-rest], values[rest:])
    return values
