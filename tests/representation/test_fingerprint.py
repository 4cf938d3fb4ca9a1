"""Phrase fingerprints of a tune's top line: the same phrases in any key or tempo, plain runs
left out, and a stretch shared by two tunes found whatever surrounds it."""

from __future__ import annotations

import numpy as np

from mg.data.corpus import music21_corpus_dir
from mg.representation import ARTICULATED, read_bytes
from mg.representation import abc as abc_format
from mg.representation.fingerprint import (
    PHRASE_NOTES,
    WINNOW,
    informative,
    phrase_fingerprints,
    top_line,
)
from mg.representation.grid import Grid
from mg.representation.transpose import shift_pitches


def oneills(index: int):
    text = (music21_corpus_dir() / "oneills1850" / "0001-0050.abc").read_text(encoding="utf-8")
    tune = abc_format.split_tunes(text)[1][index]
    return read_bytes(tune.text.encode(), "oneills.abc", Grid()).pieces[0]


def slower(notes: np.ndarray) -> np.ndarray:
    """Every step twice as long: the onset on the first, held on the second."""
    out = np.repeat(notes, 2, axis=0)
    out[1::2, :, ARTICULATED] = 0
    return out


def test_plain_runs_are_not_informative():
    assert not informative(np.array([2, 2, 1, 2, 2, 2, 1, 2, 2, 1, 2, 2, 2, 1, 2, 2]))  # a scale
    assert not informative(np.array([2, -2] * 8))  # a trill: two intervals
    assert not informative(np.zeros(16, dtype=int))  # one note repeated
    assert informative(np.array([2, -2, 0, 2, 2, 1, -1, -2, 2, -4, -3, 5, 0, 2, -2, 1]))


def test_phrases_ignore_key_and_tempo():
    tune = oneills(13)  # The Siege of Troy, a jig
    found = phrase_fingerprints(tune.notes)
    assert len(found) >= 5
    assert phrase_fingerprints(shift_pitches(tune.notes, 5)) == found
    assert phrase_fingerprints(slower(tune.notes)) == found
    assert not set(found) & set(phrase_fingerprints(oneills(19).notes))  # another jig


def test_a_long_enough_shared_stretch_shares_a_phrase_whatever_surrounds_it():
    tune = oneills(13).notes
    onsets = top_line(tune)[0]
    # the top-line notes from the 10th on, behind another tune's opening bars
    start, stop = onsets[10], onsets[10 + PHRASE_NOTES + WINNOW]
    other = oneills(19).notes
    joined = np.concatenate([other[: onsets[0] + 48], tune[start:stop]])
    assert set(phrase_fingerprints(joined)) & set(phrase_fingerprints(tune))


def test_a_short_tune_has_no_phrases():
    notes = oneills(13).notes
    onsets = top_line(notes)[0]
    assert phrase_fingerprints(notes[: onsets[PHRASE_NOTES - 1] + 1]) == ()


def test_one_pass_gives_the_opening_and_the_phrases_as_computed_apart():
    from mg.representation.fingerprint import fingerprint, fingerprints

    for index in range(6):
        piece = oneills(index)
        for notes in (piece.notes, piece.notes[:40], piece.notes[:3]):
            assert fingerprints(notes) == (fingerprint(notes), phrase_fingerprints(notes))
        fresh = oneills(index)
        assert fresh.phrases() == phrase_fingerprints(fresh.notes)
        assert fresh.group == fingerprint(fresh.notes)  # kept from the same pass


def dense_top_line(notes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`top_line` as first written, over all 88 pitches (it now searches the pressed ones)."""
    pressed, articulated = notes[..., 0] > 0, notes[..., 1] > 0
    sounding = pressed.any(axis=1)
    top = np.where(sounding, notes.shape[1] - 1 - np.argmax(pressed[:, ::-1], axis=1), -1)
    steps = np.arange(len(notes))
    struck = articulated[steps, np.maximum(top, 0)] & sounding
    previous = np.concatenate([[-1], top[:-1]])
    onset = sounding & ((top != previous) | struck)
    return steps[onset], top[onset]


def test_the_top_line_is_the_one_over_every_pitch():
    rng = np.random.default_rng(5)
    cases = [oneills(i).notes for i in range(8)]
    cases += [shift_pitches(cases[0], 30), shift_pitches(cases[1], -30), cases[2][:, 50:]]
    random = np.zeros((200, 88, 3), np.uint8)
    random[..., 0] = rng.random((200, 88)) < 0.05
    random[..., 1] = random[..., 0] & (rng.random((200, 88)) < 0.5)
    cases += [random, random[:, :1], np.zeros((30, 88, 3), np.uint8), random[:0]]
    for notes in cases:
        for part in (notes, notes[:17], notes[:1]):
            found, expected = top_line(part), dense_top_line(part)
            for a, b in zip(found, expected, strict=True):
                assert a.dtype == b.dtype and np.array_equal(a, b)


def test_the_fingerprints_of_a_tune_are_the_ones_ingest_always_gave():
    # the split of every tune hangs on these values: any rewrite must give the same
    from mg.representation.fingerprint import fingerprints

    expected = {
        0: ("530d99dacc04b6e5", 25, ("04f38466f1a5161f", "093e7deda418bbea")),
        13: ("4ce2c26e8d194fc8", 18, ("03f4ec2af23a5941", "05e206b29ebc944d")),
    }
    for index, (opening, count, first) in expected.items():
        found, phrases = fingerprints(oneills(index).notes)
        assert (found, len(phrases), phrases[:2]) == (opening, count, first)


def informative_by_rows(intervals: np.ndarray, window: int) -> np.ndarray:
    """The informative rule as first written, one row per run of `window` intervals."""
    runs = np.lib.stride_tricks.sliding_window_view(intervals, window)
    moves = np.sign(runs)
    index = np.where(moves != 0, np.arange(runs.shape[1]), -1)
    last = np.maximum.accumulate(index, axis=1)
    before = np.concatenate([np.full((len(runs), 1), -1), last[:, :-1]], axis=1)
    previous = np.take_along_axis(moves, np.maximum(before, 0), axis=1)
    turns = ((moves != 0) & (before >= 0) & (moves != previous)).sum(axis=1)
    ordered = np.sort(runs, axis=1)
    distinct = 1 + (ordered[:, 1:] != ordered[:, :-1]).sum(axis=1)
    return (turns >= 3) & (distinct >= 3)


def test_the_runs_counted_at_once_are_the_runs_counted_one_by_one():
    from mg.representation.fingerprint import _informative

    rng = np.random.default_rng(11)
    cases = [np.diff(top_line(oneills(i).notes)[1]) for i in range(8)]
    for _ in range(3000):
        size, spread = int(rng.integers(1, 50)), int(rng.integers(1, 7))
        intervals = rng.integers(-spread, spread + 1, size)
        intervals[rng.random(size) < rng.random()] = 0  # repeated notes, sometimes many
        cases.append(intervals)
    for intervals in cases:
        for window in {1, 2, 5, PHRASE_NOTES, len(intervals)}:
            if 0 < window <= len(intervals):
                found = _informative(intervals, window)
                assert np.array_equal(found, informative_by_rows(intervals, window))


def phrases_as_first_written(notes: np.ndarray, window: int, winnow: int) -> tuple[str, ...]:
    """`phrase_fingerprints` as first written: Counter's most common gap, a row per run for
    its hash and for the winnow's minimum, np.unique, a format per hash."""
    from collections import Counter

    from mg.representation.fingerprint import _PLAIN, _informative, _mix, _powers

    onsets, pitches = top_line(notes)
    intervals = np.diff(pitches.astype(np.int64))
    if len(intervals) < window:
        return ()
    gaps = np.diff(onsets)
    unit = Counter(gaps.tolist()).most_common(1)[0][0]
    rhythm = np.rint(gaps * 100 / unit).astype(np.int64)
    words = _mix(((intervals + 256) << 32) | rhythm)
    runs = np.lib.stride_tricks.sliding_window_view(words, window)
    with np.errstate(over="ignore"):
        hashes = _mix((runs * _powers(window)).sum(axis=1, dtype=np.uint64))
    hashes[~_informative(intervals, window)] = _PLAIN
    if len(hashes) > winnow:
        hashes = np.lib.stride_tricks.sliding_window_view(hashes, winnow).min(axis=1)
    else:
        hashes = hashes.min(keepdims=True)
    return tuple(f"{h:016x}" for h in np.unique(hashes).tolist() if h != _PLAIN)


def test_the_phrases_are_the_ones_first_written_for_any_run_and_winnow():
    cases = [oneills(i).notes for i in range(6)] + [shift_pitches(oneills(6).notes, -7)]
    for notes in cases:
        for part in (notes, notes[:200], notes[:60]):
            for window, winnow in ((PHRASE_NOTES, WINNOW), (4, 1), (5, 3), (8, 6), (2, 40)):
                expected = phrases_as_first_written(part, window, winnow)
                assert phrase_fingerprints(part, window, winnow) == expected


def test_the_most_common_gap_is_counters_first_seen_of_the_ties():
    from collections import Counter

    from mg.representation.fingerprint import _most_common

    rng = np.random.default_rng(2)
    for _ in range(500):
        gaps = rng.integers(1, int(rng.integers(2, 9)), int(rng.integers(1, 30)))
        assert _most_common(gaps) == Counter(gaps.tolist()).most_common(1)[0][0]
