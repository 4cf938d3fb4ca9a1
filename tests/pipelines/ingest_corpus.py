"""The mixed test corpus of the ingest tests: real files (folk tunes rendered to MIDI by the
corpora fixture, ABC and MusicXML from music21's corpus) plus bad files written here, each
with the reason it must be rejected for."""

from __future__ import annotations

import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

from mg.data.corpus import bach_chorales, music21_corpus_dir
from mg.errors import Reason
from mg.pipelines.options import IngestConfig
from mg.representation.grid import Grid

HERE = Path(__file__).resolve().parent
FOLK_MIDI = ["oneills-001.mid", "oneills-002.mid", "oneills-010.mid", "oneills-025.mid"]
FOLK_MIDI += ["oneills-040.mid"]
NOTTINGHAM_ABC = "nottingham-dataset/reelsa-c.abc"  # two Nottingham tunes with chords
RYANS = ["RockyRoadToDublinJig.abc", "DeerFootHornpipe.abc", "HarlequinHornpipe.abc"]
CRASH_PARSER = "crash_parser:read_bytes"
# a songbook: two good tunes, one abc2midi refuses (no K:), one under a bar (dropped, counted)
BOOK = (
    "% a songbook\n\n"
    "X:1\nT:First\nK:C\nCDEF|GABc|\n\n"
    "X:2\nT:Broken\nM:4/4\n\n"
    "X:3\nT:Third\nK:G\nGABc|defg|\n\n"
    "X:4\nT:Short\nK:C\nC|\n"
)


def midi_bytes(track_events: bytes, division: int = 96) -> bytes:
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, division)
    body = track_events + b"\x00\xff\x2f\x00"
    return header + b"MTrk" + struct.pack(">I", len(body)) + body


def drum_only_midi() -> bytes:
    """Two hits on channel 10 (the GM drum channel): nothing pitched."""
    hits = b"".join(b"\x00\x99\x24\x64\x60\x89\x24\x00" for _ in range(2))
    return midi_bytes(hits)


@dataclass(frozen=True)
class Corpus:
    root: Path
    good: list[str]  # sources that must give tunes
    bad: dict[str, Reason]  # source -> the reason it is rejected for
    duplicate_of: dict[str, str]  # the copy that loses -> the source that wins


def build_corpus(root: Path, folk_midi: Path) -> Corpus:
    """Real files (linked) plus bad files written here; `folk_midi` is the corpora fixture's."""
    (root / "folk").mkdir(parents=True)
    (root / "music21").mkdir()
    (root / "bad").mkdir()
    good = []
    for name in FOLK_MIDI:
        (root / "folk" / name).symlink_to(folk_midi / name)
        good.append(f"folk/{name}")
    (root / "folk" / "reelsa-c.abc").symlink_to(music21_corpus_dir() / NOTTINGHAM_ABC)
    good.append("folk/reelsa-c.abc")
    for name in RYANS:
        (root / "music21" / name).symlink_to(music21_corpus_dir() / "ryansMammoth" / name)
        good.append(f"music21/{name}")
    chorale = bach_chorales(1)[0]
    (root / "music21" / chorale.name).symlink_to(chorale)
    good.append(f"music21/{chorale.name}")
    bad = _write_bad_files(root / "bad", (folk_midi / "oneills-003.mid").read_bytes())
    good.append("bad/book.abc")  # two of its four tunes are good
    # the same music under a later name: the copy loses to the original (smallest source)
    (root / "zz").mkdir()
    shutil.copyfile(folk_midi / FOLK_MIDI[0], root / "zz" / "copy.mid")
    (root / "bad" / "readme.txt").write_text("not music: ignored, counted\n")
    return Corpus(root, sorted(good), bad, {"zz/copy.mid": f"folk/{FOLK_MIDI[0]}"})


def _write_bad_files(folder: Path, real: bytes) -> dict[str, Reason]:
    """`real`: the bytes of a good MIDI file, cut short and marked to crash the parser."""
    files = {
        "empty.mid": (b"", Reason.EMPTY),
        "truncated.mid": (real[: len(real) // 2], Reason.TRUNCATED),
        "noise.mid": (bytes(range(7, 71)), Reason.UNKNOWN_FORMAT),
        "notune.abc": (b"%abc-2.1\nT:no X line\nK:G\nABc|\n", Reason.ABC_NO_TUNE),
        "drums.mid": (drum_only_midi(), Reason.ONLY_DRUMS),
        "crash.mid": (real + b"MG-CRASH", Reason.PARSER_CRASH),
        "book.abc": (BOOK.encode(), Reason.ABC_TUNE),
    }
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    (folder / "dangling.mid").symlink_to(folder / "gone.mid")
    reasons = {f"bad/{name}": reason for name, (_, reason) in files.items()}
    return {**reasons, "bad/dangling.mid": Reason.UNREADABLE}


def corpus_config(corpus: Corpus, out: Path, **changes) -> IngestConfig:
    """The options of every full run over the mixed corpus (runs must agree to compare)."""
    settings = {
        "inputs": (str(corpus.root),),
        "out": str(out),
        "grid": Grid(),
        "transpose": (-2, 2),
        "shards": 2,
        "workers": 1,
        "parser": CRASH_PARSER,
        **changes,
    }
    return IngestConfig(**settings)
