"""One split per tune, whatever its key or book: tunes that share a phrase of the top line are
one split group (`mg.pipelines.groups`), joined across the corpus by ingest's Beam pipeline."""

from __future__ import annotations

import json
import random

import numpy as np
import pyarrow.parquet as pq
import pytest

from mg.data.corpus import music21_corpus_dir
from mg.data.schema import SPLITS, read_manifest
from mg.pipelines.groups import (
    MAX_TUNES,
    fingerprint_int,
    fingerprint_text,
    group_sizes,
    join_groups,
    join_table,
    table_group_sizes,
)
from mg.pipelines.ingest import ingest
from mg.pipelines.options import IngestConfig
from mg.representation import abc as abc_format
from mg.representation import read_bytes
from mg.representation.fingerprint import PHRASE_NOTES, WINNOW, phrase_fingerprints, top_line
from mg.representation.grid import Grid

BOOK_ONE = """X:1
T:The Test Jig
M:6/8
L:1/8
K:G
D|GAG GAB|cBA BGE|DGG GAB|cAF G2:|

X:2
T:A Reel of Its Own
M:4/4
L:1/8
K:D
FAAB AFED|FAAB d2dB|AFAB defe|dBAF E2D2|]
"""

# the jig a whole tone up, in sixteenth-note units (each value written twice as long)
BOOK_TWO = """X:7
T:Test Jig, in A
L:1/16
M:6/8
K:A
E2|A2B2A2 A2B2c2|d2c2B2 c2A2F2|E2A2A2 A2B2c2|d2B2G2 A4:|
"""

# four bars of eighths up and down a scale (naturals: the same notes in any key signature); two
# unrelated jigs of O'Neill's both open with it
SCALE_RUN = "=D=E=F =G=A=B | =c=d=e =f=g=a | =g=f=e =d=c=B | =A=G=F =E=D=C |"


def oneills_tune(index: int) -> str:
    """The ABC text of a tune of music21's O'Neill's 1850, 0001-0050.abc (from 0)."""
    text = (music21_corpus_dir() / "oneills1850" / "0001-0050.abc").read_text(encoding="utf-8")
    return abc_format.split_tunes(text)[1][index].text


def other_book(tune: str) -> str:
    """The tune as another book prints it: a fourth up (abc2midi's `%%MIDI transpose`), every
    note value doubled (L: 1/16 → 1/8) and another first bar."""
    head, body = tune.split("\nK:", 1)
    key, music = body.split("\n", 1)
    _, rest = music.split("|", 1)
    head = head.replace("L: 1/16", "L: 1/8")
    return f"{head}\nK:{key}\n%%MIDI transpose 5\nc2e2 g2e2 |{rest}"


def with_scale_run(tune: str) -> str:
    head, body = tune.split("\nK:", 1)
    key, music = body.split("\n", 1)
    return f"{head}\nK:{key}\n{SCALE_RUN}\n{music}"


def piece(text: str, name: str):
    (found,) = read_bytes(text.encode(), name, Grid()).pieces
    return found


def tunes_of(pieces: list) -> dict:
    return {(p.piece_id, p.group): phrase_fingerprints(p.notes) for p in pieces}


def test_the_same_tune_in_another_key_tempo_and_first_bar_shares_phrases_not_its_opening():
    tune = oneills_tune(1)  # Fare You Well, 2/4, L: 1/16
    original, moved = piece(tune, "one.abc"), piece(other_book(tune), "two.abc")
    top, top_moved = top_line(original.notes)[1], top_line(moved.notes)[1]
    assert top_moved[4:12].tolist() == (top[2:10] + 5).tolist()  # a fourth up, first bar new
    assert original.group != moved.group  # the opening fingerprint alone tells them apart
    groups, _ = join_groups(tunes_of([original, moved]))
    assert groups == {original.piece_id: min(original.group, moved.group)} | {
        moved.piece_id: min(original.group, moved.group)
    }


def test_two_tunes_that_share_only_a_scale_run_are_not_joined():
    siege, monks = oneills_tune(13), oneills_tune(19)  # two unrelated jigs, L: 1/8
    first, second = piece(with_scale_run(siege), "a.abc"), piece(with_scale_run(monks), "b.abc")
    a, b = np.diff(top_line(first.notes)[1]), np.diff(top_line(second.notes)[1])
    shared = PHRASE_NOTES + WINNOW - 1  # intervals that would guarantee a common phrase
    assert a[:shared].tolist() == b[:shared].tolist()  # the run is there, note for note
    assert not set(phrase_fingerprints(first.notes)) & set(phrase_fingerprints(second.notes))
    assert join_groups(tunes_of([first, second]))[0] == {}


def test_a_phrase_shared_by_more_tunes_than_the_stoplist_allows_joins_nobody():
    phrases = {(f"piece{i}", f"key{i}"): ["common"] for i in range(MAX_TUNES + 1)}
    phrases[("piece0", "key0")] = ["common", "rare"]
    phrases[("piece1", "key1")] = ["common", "rare"]
    groups, stopped = join_groups(phrases)
    assert (groups, stopped) == ({"piece0": "key0", "piece1": "key0"}, 1)
    del phrases[("piece8", "key8")]  # now MAX_TUNES tunes share it: all one group
    groups, stopped = join_groups(phrases)
    assert (set(groups.values()), len(groups), stopped) == ({"key0"}, MAX_TUNES, 0)


def test_groups_chain_through_a_tune_that_shares_a_phrase_with_each():
    phrases = {("a", "k3"): ["x"], ("b", "k2"): ["x", "y"], ("c", "k1"): ["y"], ("d", "k0"): []}
    assert join_groups(phrases)[0] == {"a": "k1", "b": "k1", "c": "k1"}


def test_the_same_tune_in_two_keys_and_books_shares_its_fingerprint():
    grid = Grid()
    jig, reel = read_bytes(BOOK_ONE.encode(), "one.abc", grid).pieces
    (moved,) = read_bytes(BOOK_TWO.encode(), "two.abc", grid).pieces
    assert moved.piece_id != jig.piece_id  # not an exact copy: both are kept
    assert moved.group == jig.group != reel.group


def dataset_groups(out) -> dict[str, tuple[str, str]]:
    """piece_id → (split, group) of every row of a dataset (one per piece, or it fails)."""
    found: dict[str, set] = {}
    for split in SPLITS:
        for path in (out / split).glob("*.parquet"):
            for row in pq.read_table(path, columns=["piece_id", "group"]).to_pylist():
                found.setdefault(row["piece_id"], set()).add((split, row["group"]))
    assert all(len(where) == 1 for where in found.values())
    return {piece_id: next(iter(where)) for piece_id, where in found.items()}


def test_the_same_tune_in_two_keys_and_files_lands_in_one_split(tmp_path):
    corpus = tmp_path / "books"
    corpus.mkdir()
    (corpus / "one.abc").write_text(BOOK_ONE)
    (corpus / "two.abc").write_text(BOOK_TWO)
    out = tmp_path / "dataset"
    for ratios in ((0.34, 0.33, 0.33), (0.0, 0.5, 0.5)):  # two draws of the split
        config = IngestConfig(
            (str(corpus),), str(out), transpose=(0, 0), split=ratios, workers=1, overwrite=True
        )
        ingest(config)
        splits = {}
        for split in SPLITS:
            for path in (out / split).glob("*.parquet"):
                table = pq.read_table(path, columns=["source", "group"]).to_pylist()
                for row in table:
                    splits.setdefault(row["group"], set()).add((split, row["source"]))
        jig = next(g for g, found in splits.items() if len(found) == 2)
        assert {source for _, source in splits[jig]} == {"one.abc", "two.abc"}
        assert len({split for split, _ in splits[jig]}) == 1
        groups = read_manifest(out)["split_groups"]
        assert (groups["groups"], groups["tunes"], groups["largest"]) == (1, 2, 2)
        assert groups["sizes"] == {"2": 1}


@pytest.fixture(scope="module")
def books(folk_midi, tmp_path_factory):
    """O'Neill's first 50 tunes as MIDI files, and Fare You Well as another book prints it."""
    folder = tmp_path_factory.mktemp("books")
    for path in sorted(folk_midi.glob("*.mid")):
        (folder / path.name).symlink_to(path)
    (folder / "other-book.abc").write_text(other_book(oneills_tune(1)))
    return folder


def test_ingest_joins_a_changed_first_bar_in_another_key_into_one_split(books, tmp_path):
    out = tmp_path / "dataset"
    ingest(IngestConfig((str(books),), str(out), transpose=(0, 0), workers=1))
    rows = dataset_groups(out)
    pieces = {}
    for split in SPLITS:
        for path in (out / split).glob("*.parquet"):
            for row in pq.read_table(path, columns=["piece_id", "source"]).to_pylist():
                pieces[row["source"]] = row["piece_id"]
    original, moved = rows[pieces["oneills-002.mid"]], rows[pieces["other-book.abc"]]
    assert original == moved  # one split, one group
    manifest = read_manifest(out)["split_groups"]
    assert manifest["groups"] >= 1 and manifest["largest"] >= 2
    assert sum(int(size) * count for size, count in manifest["sizes"].items()) == manifest["tunes"]


def test_splits_and_groups_are_the_same_whatever_the_worker_count(books, tmp_path):
    found = []
    for workers in (1, 2):
        out = tmp_path / f"dataset-{workers}"
        ingest(IngestConfig((str(books),), str(out), transpose=(0, 0), workers=workers))
        groups = read_manifest(out)["split_groups"]
        found.append((dataset_groups(out), json.dumps(groups, sort_keys=True)))
    assert found[0] == found[1]


def table_of(phrases: dict, copies: int = 0, seed: int = 0) -> np.ndarray:
    """`join_groups`' input as ingest spills it: uint64 rows (phrase, piece_id, opening
    fingerprint), some rows twice (files with the same music), in no order."""
    rows = [
        tuple(fingerprint_int(text) for text in (phrase, piece_id, key))
        for (piece_id, key), found in phrases.items()
        for phrase in found
    ]
    rows += rows[:copies]
    random.Random(seed).shuffle(rows)
    return np.array(rows, dtype=np.uint64).reshape(-1, 3)


def joined_by_table(phrases: dict, max_tunes: int = MAX_TUNES, min_shared: int = 1, **kw):
    table = table_of(phrases, **kw)
    ids, names, stopped = join_table(table[:, 0], table[:, 1], table[:, 2], max_tunes, min_shared)
    assert ids.tolist() == sorted(ids.tolist())
    groups = {fingerprint_text(i): fingerprint_text(n) for i, n in zip(ids, names, strict=True)}
    assert table_group_sizes(names) == group_sizes(groups)
    return groups, stopped


@pytest.mark.parametrize("seed", range(20))
def test_the_numeric_join_gives_the_groups_of_the_join_of_texts(seed):
    rng = random.Random(seed)

    def hex64() -> str:
        return f"{rng.getrandbits(64):016x}"

    common = [hex64() for _ in range(rng.randint(1, 30))]
    keys = [hex64() for _ in range(20)]  # tunes that share an opening: names can coincide
    phrases = {
        (hex64(), rng.choice(keys)): [rng.choice(common) for _ in range(rng.randint(0, 6))]
        for _ in range(rng.randint(0, 80))
    }
    for max_tunes in (2, MAX_TUNES):
        for min_shared in (1, 2, 3):
            want = join_groups(phrases, max_tunes, min_shared)
            got = joined_by_table(phrases, max_tunes, min_shared, copies=seed * 3, seed=seed)
            assert got == want


def test_the_numeric_join_of_nothing_is_empty():
    assert joined_by_table({}) == ({}, 0)
    assert joined_by_table({("0" * 16, "1" * 16): ["2" * 16]}) == ({}, 0)


def test_fingerprints_are_16_hex_digits_and_sort_as_their_integers():
    texts = ["00000000000000ff", "0f00000000000000", "ffffffffffffffff", "a000000000000000"]
    assert [fingerprint_text(fingerprint_int(t)) for t in texts] == texts
    assert sorted(texts) == [fingerprint_text(v) for v in sorted(map(fingerprint_int, texts))]
    bad_texts = ("ABCDEF0123456789", "abc", "0x00000000000000", " 000000000000000")
    # what int(text, 16) reads but is not 16 lowercase hex digits: signs, underscores, an
    # upper-case digit, other scripts' digits
    bad_texts += ("+000000000000001", "-000000000000001", "0000_00000000000")
    bad_texts += ("000000000000000F", "\u0660" * 16)
    for bad in bad_texts:
        with pytest.raises(ValueError, match="16-hex-digit"):
            fingerprint_int(bad)


def test_the_numeric_join_of_real_tunes_is_the_join_of_texts(books):
    grid = Grid()
    pieces = [
        p
        for path in sorted(books.iterdir())
        for p in read_bytes(path.read_bytes(), path.name, grid).pieces
    ]
    phrases = tunes_of(pieces)
    want = join_groups(phrases)
    assert want[0]  # the tune in the other book is joined
    assert joined_by_table(phrases, copies=10) == want
