"""Real corpora that ship with installed packages: the demo's default and the tests' data."""

from __future__ import annotations

from pathlib import Path


def music21_corpus_dir() -> Path:
    import music21

    return Path(music21.__file__).parent / "corpus"


def demo_corpus() -> Path:
    """A folder of ABC folk tunes bundled with music21 (installed with mg)."""
    return music21_corpus_dir() / "airdsAirs"


def bach_chorales(limit: int | None = None) -> list[Path]:
    """Bach chorales as MusicXML (.mxl), from music21's corpus."""
    files = sorted((music21_corpus_dir() / "bach").glob("bwv*.mxl"))
    return files[:limit] if limit else files
