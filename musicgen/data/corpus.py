"""Real corpora: those that ship with installed packages (the demo's default and the tests'
data), and where the shared data (Nottingham, the polyphonic benchmark) is looked for."""

from __future__ import annotations

import os
from pathlib import Path

SHARED_DATA_ENV = "MG_SHARED_DATA"


def shared_data_dir(checkout: Path) -> Path:
    """Where the shared data (a folder holding `nottingham/` and `polyphonic/`) would be:
    $MG_SHARED_DATA, else `../shared/data` beside the `checkout` folder. It is read in place,
    never copied; the tests and the benchmarks that need it say so when it is absent."""
    beside = Path(checkout).resolve().parent / "shared" / "data"
    return Path(os.environ.get(SHARED_DATA_ENV) or beside).expanduser().resolve()


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
