"""`mg.pipelines.listing`: inputs → files with their source names."""

from __future__ import annotations

import pytest

from mg.pipelines.listing import list_inputs
from mg.pipelines.options import IngestError


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "corpus"
    (root / "a" / "deep").mkdir(parents=True)
    (root / ".hidden").mkdir()
    for name in (
        "a/x.mid",
        "a/deep/y.MID",
        "a/z.abc",
        "b.mxl",
        "c.xml",
        "notes.txt",
        ".hidden/h.mid",
    ):
        (root / name).write_bytes(b"x")
    (root / "a" / "gone.midi").symlink_to(root / "nowhere.midi")
    return root


def test_a_folder_is_walked_for_known_suffixes_with_sources_relative_to_it(tree):
    listing = list_inputs([str(tree)])
    assert [f.source for f in listing.files] == [
        "a/deep/y.MID",
        "a/gone.midi",  # a dangling link is listed: reading rejects it with its reason
        "a/x.mid",
        "a/z.abc",
        "b.mxl",
        "c.xml",
    ]
    assert listing.ignored == 1  # notes.txt; hidden folders are not walked
    assert all(f.path.startswith(str(tree)) for f in listing.files)


def test_several_inputs_share_their_common_root(tree):
    listing = list_inputs([str(tree / "a" / "deep"), str(tree / "b.mxl")])
    assert [f.source for f in listing.files] == ["a/deep/y.MID", "b.mxl"]


def test_a_glob_and_a_named_file_of_any_suffix(tree):
    assert [f.source for f in list_inputs([str(tree / "a" / "*.mid")]).files] == ["x.mid"]
    assert [f.source for f in list_inputs([str(tree / "**" / "*.abc")]).files] == ["a/z.abc"]
    assert [f.source for f in list_inputs([str(tree / "notes.txt")]).files] == ["notes.txt"]


def test_the_same_file_twice_is_listed_once(tree):
    listing = list_inputs([str(tree / "a"), str(tree / "a" / "x.mid")])
    assert [f.source for f in listing.files].count("x.mid") == 1


def test_an_input_that_names_nothing_is_an_error(tree):
    with pytest.raises(IngestError, match="nowhere"):
        list_inputs([str(tree / "nowhere")])
    with pytest.raises(IngestError, match=r"\*\.nothing"):
        list_inputs([str(tree / "*.nothing")])


def test_the_listing_hash_names_the_set_of_sources(tree, tmp_path):
    first = list_inputs([str(tree)]).listing_hash()
    assert list_inputs([str(tree)]).listing_hash() == first
    assert list_inputs([str(tree / "a")]).listing_hash() != first
