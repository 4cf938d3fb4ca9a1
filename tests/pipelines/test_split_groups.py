"""One split per tune, whatever its key or book: the split key is the tune's musical fingerprint."""

from __future__ import annotations

import pyarrow.parquet as pq

from mg.data.schema import SPLITS, read_manifest
from mg.pipelines.ingest import ingest
from mg.pipelines.options import IngestConfig
from mg.representation import read_bytes
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


def test_the_same_tune_in_two_keys_and_books_shares_its_fingerprint():
    grid = Grid()
    jig, reel = read_bytes(BOOK_ONE.encode(), "one.abc", grid).pieces
    (moved,) = read_bytes(BOOK_TWO.encode(), "two.abc", grid).pieces
    assert moved.piece_id != jig.piece_id  # not an exact copy: both are kept
    assert moved.group == jig.group != reel.group


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
        assert read_manifest(out)["split_groups"] | {"key": ""} == {
            "key": "",
            "groups": 1,
            "tunes": 2,
        }
