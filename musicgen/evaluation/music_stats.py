"""Musical statistics of note matrices, and a check that generated music does not copy its
training data.

The statistics follow muspy's definitions (Dong et al. 2020), on the grid: a note is an onset
(articulated cell), a beat is ε steps, a bar γ steps. Each is computed per piece, then averaged
over pieces; trailing silence (the padding of a dataset's last segment) is left out first.
Beside them, two that say whether the music sounds like its corpus: `harmony`, the share of
sounding frames whose pitch classes all belong to one triad or seventh chord (a melody note or
an interval always does; a cluster does not), `median_note_length` in steps, and
`off_eighth_onsets`, the share of onset frames that fall off the eighth-note grid counted from
the piece's first bar line (a sixteenth or a triplet off; NaN on a grid without eighths): a
line that slips by a sixteenth and goes on there reads as off the beat. `polyphony` is the mean
number of voices (pitches sounding) over the sounding frames.

The copy check finds, for each generated piece, the longest run of consecutive frames whose
pressed pitches equal a run somewhere in the training segments (silent frames never match).
Runs are compared through 64-bit polynomial hashes of frame runs, so a length test over the
whole training split is a sort and a search, and a binary search finds the longest length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mg.representation.grid import Grid

STATS = (
    "pitch_class_entropy",
    "scale_consistency",
    "polyphony",
    "empty_beat_rate",
    "pitch_range",
    "notes_per_bar",
    "harmony",
    "median_note_length",
    "off_eighth_onsets",
)
MAJOR_SCALE = np.array([0, 2, 4, 5, 7, 9, 11])
CHORDS = (  # pitch classes above the root
    (0, 4, 7), (0, 3, 7), (0, 3, 6), (0, 4, 8),  # major, minor, diminished, augmented triads
    (0, 4, 7, 10), (0, 4, 7, 11), (0, 3, 7, 10),  # dominant, major and minor sevenths
    (0, 3, 6, 10), (0, 3, 6, 9),  # half-diminished and diminished sevenths
)  # fmt: skip


def _chord_subsets() -> np.ndarray:
    """[4096] bool: which 12-bit pitch-class sets lie within some chord of CHORDS, any root."""
    fits = np.zeros(1 << 12, dtype=bool)
    for chord in CHORDS:
        for root in range(12):
            mask = sum(1 << ((root + interval) % 12) for interval in chord)
            subsets = np.arange(1 << 12)
            fits |= (subsets & ~mask) == 0
    return fits


FITS_A_CHORD = _chord_subsets()


def trim_silence(notes: np.ndarray) -> np.ndarray:
    """The piece up to its last sounding step."""
    sounding = np.flatnonzero(notes[..., 0].any(axis=-1))
    return notes[: sounding[-1] + 1] if len(sounding) else notes[:0]


def pitch_class_sets(pressed: np.ndarray, low: int) -> np.ndarray:
    """pressed [steps, α] bool (pitch `low` first) -> the 12-bit pitch-class set of each step."""
    bits = (1 << ((np.arange(pressed.shape[-1]) + low) % 12)).astype(np.int64)
    return np.bitwise_or.reduce(np.where(pressed, bits, 0), axis=-1)


def note_lengths(notes: np.ndarray) -> np.ndarray:
    """The length in steps of every note of [steps, α, 3]: from an onset (an articulated step,
    or a pressed step after a silent one) to the step before the pitch's next onset or silence."""
    pressed = notes[..., 0] > 0
    was_pressed = np.concatenate([np.zeros_like(pressed[:1]), pressed[:-1]])
    onsets = pressed & ((notes[..., 1] > 0) | ~was_pressed)
    note_of_cell = np.cumsum(onsets.T.ravel())  # pitch by pitch, each pitch's steps in order
    return np.bincount(note_of_cell[pressed.T.ravel()])[1:]


def piece_stats(notes: np.ndarray, grid: Grid) -> dict[str, float]:
    """The statistics of one piece [steps, α, 3]; NaN where a piece has no notes."""
    notes = trim_silence(notes)
    pressed, onsets = notes[..., 0] > 0, notes[..., 1] > 0
    onset_pitches = np.nonzero(onsets)[1] + grid.low
    if len(onset_pitches) == 0:
        return dict.fromkeys(STATS, float("nan"))
    classes = np.bincount(onset_pitches % 12, minlength=12) / len(onset_pitches)
    nonzero = classes[classes > 0]
    in_scale = [np.isin(onset_pitches % 12, (MAJOR_SCALE + root) % 12).mean() for root in range(12)]
    voices = pressed.sum(axis=-1)
    sounding = pitch_class_sets(pressed[voices > 0], grid.low)
    beats = len(notes) // grid.steps_per_beat or 1
    eighth = grid.steps_per_beat // 2 if grid.steps_per_beat % 2 == 0 else 0
    onset_steps = np.nonzero(onsets.any(axis=-1))[0]
    beat_sounds = pressed[: beats * grid.steps_per_beat].reshape(beats, -1, pressed.shape[-1])
    return {
        "pitch_class_entropy": float(-(nonzero * np.log2(nonzero)).sum()),
        "scale_consistency": float(max(in_scale)),
        "polyphony": float(voices[voices > 0].mean()),
        "empty_beat_rate": float((~beat_sounds.any(axis=(1, 2))).mean()),
        "pitch_range": float(onset_pitches.max() - onset_pitches.min()),
        "notes_per_bar": float(len(onset_pitches) / (len(notes) / grid.gamma)),
        "harmony": float(FITS_A_CHORD[sounding].mean()),
        "median_note_length": float(np.median(note_lengths(notes))),
        "off_eighth_onsets": float((onset_steps % eighth > 0).mean()) if eighth else float("nan"),
    }


def mean_stats(pieces, grid: Grid) -> dict[str, float]:
    """Each statistic averaged over the pieces that have notes (NaN when none has)."""
    rows = [piece_stats(notes, grid) for notes in pieces]
    if not rows:
        return dict.fromkeys(STATS, float("nan"))
    table = np.array([[row[name] for name in STATS] for row in rows], dtype=np.float64)
    with np.errstate(all="ignore"):
        means = [
            float(np.nanmean(column)) if np.isfinite(column).any() else float("nan")
            for column in table.T
        ]
    return dict(zip(STATS, means, strict=True))


# --- copy check --------------------------------------------------------------------------

_BASE = np.uint64(0x9E3779B97F4A7C15)  # odd, so it has an inverse modulo 2**64
_FILTER_SLOTS = 1 << 22
_FILTER_MASK = np.uint64(_FILTER_SLOTS - 1)


@dataclass(frozen=True)
class _Runs:
    """Frame hashes of equal-length sequences laid end to end, with prefix sums for run hashes."""

    prefix: np.ndarray  # [n + 1] uint64
    length: int  # frames per sequence
    count: int  # sequences

    def hashes(self, run: int) -> np.ndarray:
        """[count, length - run + 1] hashes of every run of `run` frames within a sequence."""
        starts = np.arange(self.count)[:, None] * self.length + np.arange(self.length - run + 1)
        with np.errstate(over="ignore"):
            return self.prefix[starts + run] - self.prefix[starts] * _power(run)


def _power(n: int) -> np.uint64:
    return np.uint64(pow(int(_BASE), n, 2**64))


def pack_pressed(notes: np.ndarray) -> np.ndarray:
    """Note matrices [..., steps, α, 3] -> their pressed column as bits [..., steps, ceil(α/8)]."""
    return np.packbits(notes[..., 0] > 0, axis=-1)


def _frame_codes(*packed: np.ndarray) -> list[np.ndarray]:
    """Packed frames [count, length, bytes] -> per array [count * length] uint64 codes: a
    64-bit hash of the frame's pitches, and for every silent frame a random code of its own."""
    rng = np.random.default_rng(0)
    out = []
    for frames in packed:
        rows = frames.reshape(-1, frames.shape[-1])
        words = np.zeros((len(rows), -(-rows.shape[1] // 8) * 8), dtype=np.uint8)
        words[:, : rows.shape[1]] = rows
        code = np.zeros(len(rows), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for word in words.view("<u8").T:
                code = _mix(code ^ _mix(word + _BASE))
        silent = ~rows.any(axis=-1)
        code[silent] = rng.integers(0, 2**64, size=int(silent.sum()), dtype=np.uint64)
        out.append(code)
    return out


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every input bit moves every output bit."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _runs(codes: np.ndarray, count: int, length: int) -> _Runs:
    """Prefix sums P[i] = sum_{j<i} code[j]·B^(i-1-j) = B^(i-1) · sum_{j<i} code[j]·B^-j."""
    inverse = np.uint64(pow(int(_BASE), -1, 2**64))
    with np.errstate(over="ignore"):
        scaled = np.cumsum(codes * _powers(inverse, len(codes)), dtype=np.uint64)
        prefix = np.concatenate([np.zeros(1, np.uint64), _powers(_BASE, len(codes)) * scaled])
    return _Runs(prefix, length, count)


def _powers(base: np.uint64, n: int) -> np.ndarray:
    """[base^0, base^1, ..., base^(n-1)] modulo 2**64."""
    out = np.empty(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        out[:1] = 1
        step, filled = base, 1
        while filled < n:  # doubling: out[filled:2*filled] = out[:filled] * base^filled
            take = min(filled, n - filled)
            out[filled : filled + take] = out[:take] * step
            step, filled = step * step, filled + take
    return out


def longest_common_runs(generated: np.ndarray, corpus: np.ndarray) -> np.ndarray:
    """For each generated piece, the longest run of consecutive frames that also occurs in one
    of the corpus segments; 0 when no sounding frame recurs.

    Both are packed pressed columns (`pack_pressed`): generated [K, T, bytes], corpus
    [N, T', bytes]. A binary search per piece on the run length; each length tested costs one
    pass over the corpus's run hashes, looked up in the (small) set of the pieces' hashes.
    """
    if len(generated) == 0 or len(corpus) == 0:
        return np.zeros(len(generated), dtype=np.int64)
    query_codes, corpus_codes = _frame_codes(generated, corpus)
    queries = _runs(query_codes, *generated.shape[:2])
    haystack = _runs(corpus_codes, *corpus.shape[:2])

    def found(run: int) -> np.ndarray:  # [K] bool: a run of `run` frames occurs in the corpus
        hashes = queries.hashes(run)
        candidates = haystack.hashes(run).ravel()
        slots = np.zeros(_FILTER_SLOTS, dtype=bool)  # a one-hash Bloom filter of the pieces'
        slots[(hashes & _FILTER_MASK).astype(np.intp).ravel()] = True
        candidates = candidates[slots[(candidates & _FILTER_MASK).astype(np.intp)]]
        return np.isin(hashes, candidates).any(axis=1)

    low = np.zeros(len(generated), dtype=np.int64)  # a run this long occurs
    high = np.full(len(generated), min(queries.length, haystack.length) + 1)  # none this long
    while (open_ := high - low > 1).any():
        middle = (low + high) // 2
        for run in np.unique(middle[open_]):
            chosen = open_ & (middle == run)
            hit = found(int(run))
            low = np.where(chosen & hit, run, low)
            high = np.where(chosen & ~hit, run, high)
    return low
