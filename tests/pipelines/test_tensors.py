"""`mg.pipelines.tensors`: splits and shards from content, transposition, segment rows."""

from __future__ import annotations

from collections import Counter

import numpy as np

from mg.pipelines.tensors import (
    segment_arrays,
    shard_of,
    shifts_for,
    split_of,
    transpose_notes,
)
from mg.representation import ARTICULATED, PRESSED, Meter, context_matrix
from mg.representation.grid import Grid


def piece(steps: int, pitches: list[int], alpha: int = 88) -> np.ndarray:
    notes = np.zeros((steps, alpha, 3), np.uint8)
    for i, p in enumerate(pitches):
        notes[i * 2 : i * 2 + 2, p, PRESSED] = 1
        notes[i * 2, p, ARTICULATED] = 1
        notes[i * 2 : i * 2 + 2, p, 2] = 90
    return notes


def test_split_follows_the_ratios_and_depends_on_the_id_only():
    ids = [f"{i:016x}" for i in range(20_000)]
    counts = Counter(split_of(i, (0.8, 0.1, 0.1)) for i in ids)
    assert abs(counts["train"] / len(ids) - 0.8) < 0.02
    assert abs(counts["valid"] / len(ids) - 0.1) < 0.01
    assert [split_of(i, (0.8, 0.1, 0.1)) for i in ids[:50]] == [
        split_of(i, (0.8, 0.1, 0.1)) for i in ids[:50]
    ]
    assert {split_of(i, (0.0, 0.0, 1.0)) for i in ids[:500]} == {"test"}
    assert {split_of(i, (1.0, 0.0, 0.0)) for i in ids[:500]} == {"train"}


def test_shards_cover_the_range():
    shards = Counter(shard_of(f"{i:x}", 4) for i in range(4000))
    assert set(shards) == {0, 1, 2, 3} and min(shards.values()) > 800


def test_augmentation_is_for_train_unless_asked():
    shifts = (-1, 0, 1)
    assert shifts_for("train", shifts, False) == shifts
    assert shifts_for("valid", shifts, False) == (0,)
    assert shifts_for("test", shifts, True) == shifts


def test_transposition_shifts_the_pitch_axis_and_counts_what_falls_out():
    notes = piece(8, [0, 40, 87])
    up, dropped = transpose_notes(notes, 2)
    assert dropped == 1  # the top note
    assert np.array_equal(up[:, 2:], notes[:, :-2]) and not up[:, :2].any()
    down, dropped = transpose_notes(notes, -1)
    assert dropped == 1 and np.array_equal(down[:, :-1], notes[:, 1:])
    same, dropped = transpose_notes(notes, 0)
    assert same is notes and dropped == 0
    gone, dropped = transpose_notes(notes, 200)
    assert not gone.any() and dropped == 3


def test_segment_context_is_the_whole_piece_context_cut():
    grid = Grid(beats_per_bar=2, bars=2)  # a bar of 8 steps, segments of 16
    notes = piece(40, list(range(30, 50)))  # a note every 2 steps, the last at steps 38-39
    segments, context, starts = segment_arrays(notes, grid)
    assert segments.shape == (3, 16, 88, 3)  # 2 full segments and a padded tail of one bar
    assert starts == (0, 16, 32)
    whole = context_matrix(notes, grid.steps_per_beat)
    flat = context.reshape(-1, 88, 3)
    assert np.array_equal(flat[:40], whole)  # the second segment's first steps see the first
    # the padding is silence after the music: its context fades out over ε steps, as generating
    # silence after the last note would give
    assert flat[40:44].any() and not flat[44:].any()


def test_segments_in_six_eight_overlap_by_the_bar_that_crosses_and_share_its_context():
    grid = Grid(beats_per_bar=2, bars=2)  # segments of 16 steps; a 6/8 bar is 12
    notes = piece(40, list(range(30, 50)))
    segments, context, starts = segment_arrays(notes, grid, Meter.constant("6/8"))
    assert starts == (0, 12, 24)  # each segment starts on a bar line
    whole = context_matrix(np.concatenate([notes, np.zeros_like(notes[:0])]), 4)
    for segment, start in enumerate(starts):
        real = min(16, 40 - start)
        assert np.array_equal(segments[segment, :real], notes[start : start + real])
        assert np.array_equal(context[segment, :real], whole[start : start + real])


def test_the_transpositions_of_a_piece_give_the_rows_each_would_give_alone():
    from mg.pipelines.tensors import segment_columns, variant_columns
    from mg.representation import read_bytes
    from tests.pipelines.ingest_corpus import BOOK

    grid = Grid()
    for piece in read_bytes(BOOK.encode(), "book.abc", grid).pieces:
        shifts = (-3, -1, 0, 2, 12)
        together = variant_columns(piece, shifts, grid)
        for shift, columns in zip(shifts, together, strict=True):
            alone = segment_columns(piece, shift, transpose_notes(piece.notes, shift)[0], grid)
            assert columns.keys() == alone.keys()
            for name, values in columns.items():
                if isinstance(values, np.ndarray):
                    assert np.array_equal(values.view(np.uint8), alone[name].view(np.uint8))
                else:
                    assert values == alone[name]


def test_the_stacked_transpositions_are_the_transpositions_joined():
    from mg.data.corpus import music21_corpus_dir
    from mg.pipelines.tensors import (
        join_columns,
        row_onsets,
        segment_columns,
        stacked_columns,
        variant_columns,
    )
    from mg.representation import abc as abc_format
    from mg.representation import read_bytes
    from tests.pipelines.ingest_corpus import BOOK

    grid = Grid()
    pieces = read_bytes(BOOK.encode(), "book.abc", grid).pieces
    text = (music21_corpus_dir() / "oneills1850" / "0001-0050.abc").read_text(encoding="utf-8")
    for tune in abc_format.split_tunes(text)[1][:12]:  # reels, jigs (6/8: segments overlap)
        pieces += read_bytes(tune.text.encode(), "oneills.abc", grid).pieces
    assert {p.meter.first.numerator for p in pieces} >= {2, 4, 6}
    short = pieces[0]
    pieces.append(type(short)(short.notes[: grid.gamma - 1], "short", 0, "short", None))
    cases = ((-3, -2, -1, 0, 1, 2, 3), (0,), (5,), (2, -7), (0, 0), (40, -87, 0), (88, -88))
    for piece in pieces:
        for shifts in cases:
            found = stacked_columns(piece, shifts, grid, "g")
            expected = join_columns(
                [
                    segment_columns(piece, s, transpose_notes(piece.notes, s)[0], grid, "g")
                    for s in shifts
                ]
            )
            assert list(map(len, variant_columns(piece, shifts, grid, "g"))) == [12] * len(shifts)
            assert list(found) == list(expected)
            # the onsets counted from the piece are those of the rows
            count = len(found["start"]) // len(shifts)
            onsets = row_onsets(piece.notes, found["start"][:count], grid.segment_steps, shifts)
            rows = found["notes"][..., ARTICULATED].sum(axis=(0, 1), dtype=np.int64)
            assert np.array_equal(onsets, rows), shifts
            for name, values in found.items():
                if isinstance(values, np.ndarray):
                    assert values.dtype == expected[name].dtype
                    assert np.array_equal(values.view(np.uint8), expected[name].view(np.uint8))
                else:
                    assert values == expected[name], name
