"""ABC files: split into tunes on `X:`, convert each with the abc2midi that symusic bundles.

A file's header (the lines before its first `X:`) applies to every tune, as the ABC standard
says. abc2midi runs in a subprocess with a timeout, so a tune that crashes or hangs it is one
broken tune, never a broken run.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from musicgen.errors import CorpusError, Reason

_TUNE_START = re.compile(r"^X:", re.MULTILINE)
_ABC2MIDI_TIMEOUT_S = 20


@dataclass(frozen=True)
class AbcTune:
    index: int  # position of the tune within its file, from 0
    number: str  # the X: field
    title: str
    text: str  # the tune's own text, from its X: line on


def decode_text(data: bytes) -> str:
    """UTF-8, else Latin-1 (which decodes any byte string)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def split_tunes(text: str) -> tuple[str, list[AbcTune]]:
    """Return the file header and the tunes, each starting at its `X:` line."""
    starts = [m.start() for m in _TUNE_START.finditer(text)]
    header = text[: starts[0]] if starts else text
    tunes = []
    for index, (begin, end) in enumerate(zip(starts, [*starts[1:], len(text)], strict=True)):
        body = text[begin:end].strip() + "\n"
        first_line = body.split("\n", 1)[0]
        title = next((ln[2:].strip() for ln in body.splitlines() if ln.startswith("T:")), "")
        tunes.append(AbcTune(index, first_line[2:].strip(), title, body))
    return header, tunes


def abc_to_midi_bytes(header: str, tune: AbcTune, path: str) -> bytes:
    """Run abc2midi on one tune; raise CorpusError(ABC_TUNE) with abc2midi's first error line."""
    source = _header_fields(header) + _ensure_number(tune.text)
    with tempfile.TemporaryDirectory(prefix="mg-abc-") as tmp:
        abc_path, midi_path = Path(tmp) / "tune.abc", Path(tmp) / "tune.mid"
        abc_path.write_text(source, encoding="utf-8")
        try:
            proc = subprocess.run(
                [str(_abc2midi()), str(abc_path), "-o", str(midi_path), "-silent"],
                capture_output=True,
                text=True,
                timeout=_ABC2MIDI_TIMEOUT_S,
                errors="replace",
            )
        except subprocess.TimeoutExpired:
            raise CorpusError(
                path, Reason.ABC_TUNE, f"tune {tune.index}: abc2midi timed out"
            ) from None
        if proc.returncode < 0 or not midi_path.exists() or midi_path.stat().st_size == 0:
            raise CorpusError(path, Reason.ABC_TUNE, f"tune {tune.index}: {_first_error(proc)}")
        return midi_path.read_bytes()


def _header_fields(header: str) -> str:
    """Only field lines of the file header apply to tunes (free text would confuse abc2midi)."""
    lines = [ln for ln in header.splitlines() if re.match(r"^[A-Za-z]:", ln) or ln.startswith("%%")]
    return "\n".join(lines) + ("\n\n" if lines else "")


def _ensure_number(text: str) -> str:
    first, _, rest = text.partition("\n")
    return text if first[2:].strip() else f"X:1\n{rest}"


def _first_error(proc: subprocess.CompletedProcess) -> str:
    output = (proc.stdout or "") + (proc.stderr or "")
    errors = [ln.strip() for ln in output.splitlines() if ln.startswith("Error")]
    if proc.returncode < 0:
        return f"abc2midi crashed (signal {-proc.returncode})"
    return errors[0] if errors else "abc2midi produced no MIDI"


def _abc2midi() -> Path:
    import symusic

    binary = Path(symusic.__file__).parent / "bin" / "abc2midi"
    if not binary.exists():
        raise FileNotFoundError(f"abc2midi not found beside symusic at {binary}")
    return binary
