"""ABC files: split into tunes on `X:`, convert them with the abc2midi that symusic bundles.

A file's header (the lines before its first `X:`) applies to every tune, as the ABC standard
says: abc2midi itself ignores some header fields (`L:` among them), so the header's fields are
copied into each tune, right after its `X:` line, where the tune's own fields still override them. abc2midi runs in a subprocess with a timeout: once for the whole file (its tunes numbered
1..n so that each gets its own MIDI file), which costs one process instead of one per tune; if
that run crashes or hangs, each tune runs alone, so a tune that breaks abc2midi is one broken
tune, never a broken file. Fermatas are played at their written length (`-NFER`): abc2midi
would double the note, and every later bar line would fall half a beat or more off the grid.
"""

from __future__ import annotations

import bisect
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mg.errors import CorpusError, Reason

_TUNE_START = re.compile(r"^X:", re.MULTILINE)
_ABC2MIDI_TIMEOUT_S = 20
_ERROR_AT = re.compile(r"Error in line-char (?P<line>\d+)-\d+ : (?P<what>.*)")


@dataclass(frozen=True)
class AbcTune:
    index: int  # position of the tune within its file, from 0
    number: str  # the X: field
    title: str
    text: str  # the tune's own text, from its X: line on
    line: int = 1  # line of its X: within the file, from 1


def decode_text(data: bytes) -> str:
    """UTF-8 (a byte-order mark dropped), else Latin-1 (which decodes any byte string).

    Line ends become Unix ones, so `X:` at the start of a line is found whatever wrote the file.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def split_tunes(text: str) -> tuple[str, list[AbcTune]]:
    """Return the file header and the tunes, each starting at its `X:` line."""
    starts = [m.start() for m in _TUNE_START.finditer(text)]
    if not starts:
        return text, []
    header, tunes, line, counted = text[: starts[0]], [], 1, 0
    for index, (begin, end) in enumerate(zip(starts, [*starts[1:], len(text)], strict=True)):
        line, counted = line + text.count("\n", counted, begin), begin
        body = text[begin:end].strip() + "\n"
        first_line = body.split("\n", 1)[0]
        title = next((ln[2:].strip() for ln in body.splitlines() if ln.startswith("T:")), "")
        tunes.append(AbcTune(index, first_line[2:].strip(), title, body, line))
    return header, tunes


def render_tunes(
    text: str, tunes: list[AbcTune], path: str
) -> list[tuple[bytes, int] | CorpusError]:
    """Per tune: (MIDI bytes, number of abc2midi errors in it), or why it has no MIDI."""
    lines = text.split("\n")
    header = "\n".join(lines[: tunes[0].line - 1]) if tunes else text
    inherited = inherited_fields(header)
    for tune in tunes:  # unique numbers 1..n: abc2midi names each tune's file by its X:
        lines[tune.line - 1] = "\n".join([f"X:{tune.index + 1}", *inherited])
    with tempfile.TemporaryDirectory(prefix="mg-abc-") as tmp:
        (Path(tmp) / "tunes.abc").write_text(without_pause_marks("\n".join(lines)), "utf-8")
        try:
            proc = _run_abc2midi(["tunes.abc"], tmp, _ABC2MIDI_TIMEOUT_S + 0.1 * len(tunes))
        except subprocess.TimeoutExpired:
            proc = None
        if proc is None or proc.returncode < 0:  # one tune broke abc2midi: find which, alone
            return [_render_alone(header, tune, path) for tune in tunes]
        errors = _errors_by_tune(_error_lines(proc), tunes, len(inherited))
        return [
            _tune_midi(Path(tmp) / f"tunes{tune.index + 1}.mid", errors[tune.index], path)
            for tune in tunes
        ]


def _render_alone(header: str, tune: AbcTune, path: str) -> tuple[bytes, int] | CorpusError:
    try:
        return abc_to_midi_bytes(header, tune, path)
    except CorpusError as exc:
        return exc


def _tune_midi(midi_path: Path, errors: list[str], path: str) -> tuple[bytes, int] | CorpusError:
    if not midi_path.exists() or midi_path.stat().st_size == 0:
        detail = f"abc2midi: {errors[0]}" if errors else "abc2midi produced no MIDI"
        return CorpusError(path, Reason.ABC_TUNE, detail)
    return midi_path.read_bytes(), len(errors)


def _errors_by_tune(errors: list[str], tunes: list[AbcTune], inherited: int) -> list[list[str]]:
    """abc2midi's error lines -> `line N: what` in the user's file, grouped by tune.

    In the text abc2midi saw, each tune's X: line is followed by `inherited` copied header
    lines, so tune i starts `i * inherited` lines later than in the file.
    """
    starts = [tune.line + i * inherited for i, tune in enumerate(tunes)]
    grouped: list[list[str]] = [[] for _ in tunes]
    for error in errors:
        match = _ERROR_AT.match(error)
        if not match:
            continue
        seen = int(match["line"])
        owner = bisect.bisect_right(starts, seen) - 1
        if owner < 0:  # errors in the file header belong to no tune
            continue
        if seen <= starts[owner] + inherited and seen != starts[owner]:
            grouped[owner].append(f"header: {match['what']}")
        else:
            line = seen - owner * inherited - (inherited if seen != starts[owner] else 0)
            grouped[owner].append(f"line {line}: {match['what']}")
    return grouped


def abc_to_midi_bytes(header: str, tune: AbcTune, path: str) -> tuple[bytes, int]:
    """Run abc2midi on one tune -> (MIDI bytes, number of errors abc2midi reported).

    abc2midi skips what it cannot read and still writes a file; those errors are counted. When
    it writes nothing, raise CorpusError(ABC_TUNE) with its first error line.
    """
    inherited = inherited_fields(header)
    first, _, rest = _ensure_number(tune.text).partition("\n")
    source = without_pause_marks("\n".join([first, *inherited, rest]))
    with tempfile.TemporaryDirectory(prefix="mg-abc-") as tmp:
        abc_path, midi_path = Path(tmp) / "tune.abc", Path(tmp) / "tune.mid"
        abc_path.write_text(source, encoding="utf-8")
        try:
            proc = _run_abc2midi([str(abc_path), "-o", str(midi_path)], tmp, _ABC2MIDI_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise CorpusError(path, Reason.ABC_TUNE, "abc2midi timed out") from None
        errors = [_file_line(e, tune.line, len(inherited)) for e in _error_lines(proc)]
        if proc.returncode < 0 or not midi_path.exists() or midi_path.stat().st_size == 0:
            raise CorpusError(path, Reason.ABC_TUNE, _failure(proc, errors))
        return midi_path.read_bytes(), len(errors)


_PAUSE_MARK = re.compile(r'("[^"\n]*")|(?:H|!fermata!)x[\d/]*')
_FIELD_LINE = re.compile(r"^[A-Za-z]:|^%")


def without_pause_marks(text: str) -> str:
    """The text without fermatas on invisible rests (`Hx`, `!fermata!x`), lines kept.

    A transcriber's way to print a pause sign at the end of a line, not a sound: the printed
    score has no rest there (music21 drops `x` too), yet abc2midi would play an eighth of
    silence that over-fills the bar and moves every later bar line off the written ones.
    """
    return "\n".join(
        line if _FIELD_LINE.match(line) else _PAUSE_MARK.sub(lambda m: m[1] or "", line)
        for line in text.split("\n")
    )


def _run_abc2midi(args: list[str], cwd: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(_abc2midi()), *args, "-silent", "-NFER"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        errors="replace",
    )


def inherited_fields(header: str) -> list[str]:
    """The file header's field lines that each tune inherits (not X:, T:, K:, lyrics or parts).

    Free text in the header would confuse abc2midi, so only fields and %% directives are kept.
    """
    return [
        line
        for line in header.splitlines()
        if (re.match(r"^[A-Za-z]:", line) and line[0] not in "XTKWwP") or line.startswith("%%")
    ]


def _ensure_number(text: str) -> str:
    first, _, rest = text.partition("\n")
    return text if first[2:].strip() else f"X:1\n{rest}"


def _error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    """abc2midi's `Error in line-char L-C : what` lines (it prints them even with -silent)."""
    output = (proc.stdout or "") + (proc.stderr or "")
    return [ln.strip() for ln in output.splitlines() if ln.startswith("Error")]


def _file_line(error: str, tune_line: int, inherited: int) -> str:
    """`Error in line-char 7-3 : what` (a line of the text abc2midi saw) -> `line N: what`.

    abc2midi saw the tune's X: line (line `tune_line` of the file), then `inherited` copied
    header lines, then the rest of the tune.
    """
    match = _ERROR_AT.match(error)
    if not match:
        return error
    seen = int(match["line"])
    if 1 < seen <= 1 + inherited:
        return f"header: {match['what']}"
    line = tune_line if seen == 1 else tune_line + seen - inherited - 1
    return f"line {line}: {match['what']}"


def _failure(proc: subprocess.CompletedProcess, errors: list[str]) -> str:
    if proc.returncode < 0:
        return f"abc2midi crashed (signal {-proc.returncode})"
    return f"abc2midi: {errors[0]}" if errors else "abc2midi produced no MIDI"


def _abc2midi() -> Path:
    import symusic

    binary = Path(symusic.__file__).parent / "bin" / "abc2midi"
    if not binary.exists():
        raise FileNotFoundError(f"abc2midi not found beside symusic at {binary}")
    return binary
