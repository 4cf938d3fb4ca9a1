"""Every class of bad input becomes a CorpusError that names the file and the right reason."""

from __future__ import annotations

import resource
import tracemalloc

import pytest

from mg.errors import CorpusError, Reason
from mg.representation import read_file
from mg.representation.grid import Grid

FAR = 0x0FFFFFFF  # the largest delta time a MIDI file can hold

# name -> (file name, its bytes from the hand-written MIDI helper `smf`, the expected reason)
BAD_FILES = {
    "empty": ("e.mid", lambda smf: b"", Reason.EMPTY),
    "blank": ("e.abc", lambda smf: b" \n\n  \n", Reason.EMPTY),
    "text_as_midi": ("t.mid", lambda smf: b"this is not a MIDI file", Reason.UNKNOWN_FORMAT),
    "image": ("p.png", lambda smf: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", Reason.UNKNOWN_FORMAT),
    "header_cut": ("h.mid", lambda smf: smf.header(0, 1, 96)[:10], Reason.TRUNCATED),
    "track_cut": (
        "c.mid",
        lambda smf: smf.header(0, 1, 96) + smf.melody([60], 96)[:-6],
        Reason.TRUNCATED,
    ),
    "missing_track": (
        "m.mid",
        lambda smf: smf.header(1, 2, 96) + smf.melody([60], 96),
        Reason.TRUNCATED,
    ),
    "header_length": (
        "l.mid",
        lambda smf: smf.header(0, 1, 96, length=2) + smf.melody([60], 96),
        Reason.BAD_HEADER,
    ),
    "bad_events": (
        "b.mid",
        lambda smf: smf.header(0, 1, 96) + smf.track([(0, [60, 100])]),  # data byte, no status
        Reason.UNREADABLE,
    ),
    "division_0": (
        "d.mid",
        lambda smf: smf.header(0, 1, 0) + smf.melody([60], 96),
        Reason.DIVISION_ZERO,
    ),
    "smpte": (
        "s.mid",
        lambda smf: smf.header(0, 1, 0xE728) + smf.melody([60], 96),  # -25 fps, 40 ticks a frame
        Reason.SMPTE_DIVISION,
    ),
    "zero_tracks": ("z.mid", lambda smf: smf.header(1, 0, 96), Reason.NO_TRACKS),
    "only_drums": (
        "dr.mid",
        lambda smf: smf.header(0, 1, 96) + smf.melody([36, 38], 24, channel=9),
        Reason.ONLY_DRUMS,
    ),
    "no_notes": (
        "n.mid",
        lambda smf: smf.header(1, 1, 96) + smf.track([(0, [0xFF, 0x51, 3, 7, 0xA1, 0x20])]),
        Reason.NO_PITCHED_NOTES,
    ),
    "never_released": (
        "r.mid",
        lambda smf: smf.header(0, 1, 96) + smf.track([(0, [0x90, 60, 100])]),
        Reason.NO_PITCHED_NOTES,
    ),
    "out_of_range": (
        "o.mid",
        lambda smf: smf.header(0, 1, 96) + smf.melody([5, 120], 24),
        Reason.NO_NOTES_IN_RANGE,
    ),
    "abc_without_tune": (
        "a.abc",
        lambda smf: b"%abc-2.1\nT:no X line here\nK:G\nABc|\n",
        Reason.ABC_NO_TUNE,
    ),
    "abc_no_parseable_tune": (
        "a.abc",
        lambda smf: b"X:1\nT:no key\n\nX:2\nT:none\n",
        Reason.ABC_NO_TUNE,
    ),
    "musicxml_garbage": ("score.mxl", lambda smf: b"PK\x03\x04 not a zip", Reason.UNREADABLE),
    "abc_only_rests": ("a.abc", lambda smf: b"X:1\nT:rests\nK:C\nz4|z4|\n", Reason.ABC_NO_TUNE),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_input_names_the_file_and_the_reason(tmp_path, smf, grid, case):
    name, write, reason = BAD_FILES[case]
    path = tmp_path / name
    path.write_bytes(write(smf))
    with pytest.raises(CorpusError) as caught:
        read_file(path, grid)
    assert caught.value.reason == reason, caught.value
    assert caught.value.path == str(path)
    assert str(caught.value).startswith(f"{path}: ") and caught.value.detail


def test_a_missing_file_is_a_corpus_error(tmp_path, grid):
    with pytest.raises(CorpusError) as caught:
        read_file(tmp_path / "nowhere.mid", grid)
    assert caught.value.reason == Reason.UNREADABLE


# division 1: one tick is a beat, so the furthest tick is about 10^9 steps (~280 GB if dense)
ABSURD = {
    "note_held_for_ever": ([(0, [0x90, 60, 100]), (FAR, [0x80, 60, 0])], Reason.TOO_LONG),
    "note_far_away": ([(FAR, [0x90, 60, 100]), (1, [0x80, 60, 0])], Reason.TOO_LONG),
    "ticks_past_int32": (
        [(FAR, [0xFF, 0x01, 0])] * 9 + [(0, [0x90, 60, 100]), (5, [60, 0])],
        Reason.TOO_LONG,
    ),
    # symusic's int32 ticks wrap before the note-off and it drops the note: nothing is left
    "note_off_past_int32": (
        [(0, [0x90, 60, 100])] + [(FAR, [0xFF, 0x01, 0])] * 9 + [(0, [60, 0])],
        Reason.NO_PITCHED_NOTES,
    ),
}


@pytest.mark.parametrize("case", sorted(ABSURD))
def test_absurd_length_is_refused_without_allocating(tmp_path, smf, grid, case):
    events, reason = ABSURD[case]
    path = tmp_path / "absurd.mid"
    path.write_bytes(smf.header(0, 1, 1) + smf.track(events))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    tracemalloc.start()
    try:
        with pytest.raises(CorpusError) as caught:
            read_file(path, grid)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert caught.value.reason == reason, caught.value
    assert peak < 2**20, f"peak {peak} bytes"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 200 * 1024


def test_many_overlapping_long_notes_stay_within_the_pressed_cells(tmp_path, smf):
    # 20,000 notes of one pitch, each held to the end of a 16,384-step piece: 3e8 note-steps,
    # but only 16,384 pressed cells; memory must follow the cells
    grid = Grid()
    ons = [(0 if i == 0 else 1, [0x90, 60, 100] if i == 0 else [60, 100]) for i in range(20_000)]
    offs = [(16_384 if i == 0 else 0, [60, 0]) for i in range(20_000)]
    path = tmp_path / "dense.mid"
    path.write_bytes(smf.header(0, 1, 4) + smf.track(ons + offs))
    tracemalloc.start()
    try:
        piece = read_file(path, grid).pieces[0]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert piece.notes[:, 60 - grid.low, 0].sum() == len(piece.notes)
    assert peak < 64 * 2**20, f"peak {peak / 2**20:.0f} MiB"
