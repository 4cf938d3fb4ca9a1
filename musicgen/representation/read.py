"""From a file (or its bytes) to pieces on the grid: the entry point of ingest and `mg inspect`."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import xxhash

from mg.errors import CorpusError, Reason
from mg.representation import abc as abc_format
from mg.representation.abc_bars import bar_meter, counted, tune_bars
from mg.representation.abc_pickup import tune_pickup
from mg.representation.encode import encode_events
from mg.representation.files import MAX_FILE_BYTES, printable, read_regular_file
from mg.representation.fingerprint import fingerprint, fingerprint_hashes, phrase_texts
from mg.representation.grid import Grid
from mg.representation.meter import (
    Meter,
    TimeSignature,
    counted_bars,
    lead_for_pickup,
    meter_from_ticks,
    with_lead,
)
from mg.representation.midi import NoteEvents, parse_midi
from mg.representation.packed import PackedNotes

MIDI_SUFFIXES = (".mid", ".midi", ".smf")
ABC_SUFFIXES = (".abc",)
MUSICXML_SUFFIXES = (".mxl", ".musicxml", ".xml")
SUFFIXES = MIDI_SUFFIXES + ABC_SUFFIXES + MUSICXML_SUFFIXES


@dataclass(frozen=True)
class Piece:
    """One tune on the grid: its note matrix, its meter and where it came from.

    Step 0 is a bar line: a pickup is preceded by `lead` silent steps (see `meter.with_lead`).
    """

    notes: np.ndarray  # [steps, α, 3] uint8
    source: str
    tune: int  # index within a multi-tune file; 0 for MIDI
    title: str
    abc: str | None  # the tune's ABC text, for ABC sources
    stats: dict[str, int] = field(default_factory=dict)
    meter: Meter = field(default_factory=Meter)
    lead: int = 0  # silent steps before a pickup
    tempo_bpm: float | None = None  # as the file says (MIDI's first tempo, ABC's Q:), if it does
    program: int | None = None  # General MIDI program of its first pitched track

    @property
    def time_signature(self) -> tuple[int, int]:
        return (self.meter.first.numerator, self.meter.first.denominator)

    def bars(self, steps_per_quarter: int) -> int:
        """The bars a musician counts (the pickup's partial bar excluded)."""
        return counted_bars(self.meter, len(self.notes), steps_per_quarter, self.lead)

    @cached_property  # computed once per piece, not once per row (frozen: __dict__ is set)
    def group(self) -> str:
        """The opening fingerprint: the same tune in another key, tempo or file shares it (ingest
        joins the tunes that share a phrase into one split group: `mg.pipelines.groups`)."""
        return fingerprint(self.notes)

    def phrases(self) -> tuple[str, ...]:
        """Its phrase fingerprints (`fingerprint.phrase_fingerprints`); `group` is computed on
        the way, from the same pass over the top line, and kept."""
        return phrase_texts(self.phrase_hashes())

    def phrase_hashes(self) -> np.ndarray:
        """`phrases` as their uint64 values (`fingerprint.phrase_hashes`), `group` kept."""
        opening, hashes = fingerprint_hashes(self.notes)
        self.__dict__.setdefault("group", opening)  # what the cached property would compute
        return hashes

    @cached_property
    def piece_id(self) -> str:
        """Hash of the encoded content: the same music from two files gets the same id.

        XXH3 (64 bits) of the matrix's shape and bytes: an identity, not a signature, and the
        dense matrix is ~140 KB a tune, which blake2b took ~0.2 ms to read (a tenth of a file's
        ingest) and XXH3 reads in ~7 us. Its output is fixed by its specification, so every
        machine agrees."""
        digest = xxhash.xxh3_64(str(self.notes.shape).encode())
        digest.update(np.ascontiguousarray(self.notes))  # its bytes, no copy of them
        return digest.hexdigest()

    def __getstate__(self) -> dict:
        """Pickled with its notes compressed (`PackedNotes`): a piece crosses the parse
        guard's pipe and waits in the ingest spill as ~4 KB, not its ~140 KB dense matrix.
        An unpickled piece keeps the packed bytes, so pickling it again does not compress
        again (its notes are read-only then: the bytes stay theirs)."""
        state = dict(self.__dict__)
        notes = state.pop("notes")
        packed = state.pop(_PACKED, None) or PackedNotes.of(notes)
        return {**state, _PACKED: packed}

    def __setstate__(self, state: dict) -> None:
        packed = state[_PACKED]
        self.__dict__.update(state, notes=packed.unpack())


_PACKED = "_packed_notes"  # the instance dict's key of the packed notes


@dataclass(frozen=True)
class FileResult:
    """The pieces of one file, and the tunes of it that failed (multi-tune ABC only)."""

    path: str
    pieces: list[Piece]
    failures: list[CorpusError]


def read_file(
    path: str | Path, grid: Grid, source: str | None = None, max_bytes: int = MAX_FILE_BYTES
) -> FileResult:
    """Read a MIDI, ABC or MusicXML file from disk (a regular file of at most `max_bytes`)."""
    data = read_regular_file(path, max_bytes)
    return read_bytes(data, source or printable(str(path)), grid)


def read_bytes(data: bytes, source: str, grid: Grid) -> FileResult:
    """Decode the bytes of a file named `source` (its suffix picks the format, else its content)."""
    if not data.strip():
        raise CorpusError(source, Reason.EMPTY, "file is empty")
    kind = detect_format(data, source)
    if kind == "midi":
        return _midi_result(data, source, grid)
    if kind == "abc":
        return _abc_result(abc_format.decode_text(data), source, grid)
    return _musicxml_result(data, source, grid)


def detect_format(data: bytes, source: str) -> str:
    """The suffix decides (`.mid .midi .smf`, `.abc`, `.xml .mxl .musicxml`); the bytes are
    sniffed only for other suffixes: a zipped `.mxl` may well contain `X:` and `K:`."""
    suffix = Path(source).suffix.lower()
    if suffix in MIDI_SUFFIXES:
        if data[:4] != b"MThd":
            raise CorpusError(source, Reason.UNKNOWN_FORMAT, "not a MIDI file (no MThd header)")
        return "midi"
    if suffix in ABC_SUFFIXES:
        return "abc"
    if suffix in MUSICXML_SUFFIXES:
        return "musicxml"
    if data[:4] == b"MThd":
        return "midi"
    if b"X:" in data[:4096] and b"K:" in data[:65536]:
        return "abc"
    raise CorpusError(source, Reason.UNKNOWN_FORMAT, "neither MIDI, ABC nor MusicXML")


def _midi_result(data: bytes, source: str, grid: Grid, pickup: int | None = None) -> FileResult:
    events = parse_midi(data, source)
    notes, stats = encode_events(events, grid, source)
    notes, meter, lead = place_on_bars(notes, events, grid, pickup)
    piece = Piece(
        notes, source, 0, Path(source).stem, None, stats.as_dict(), meter, lead,
        events.tempo_bpm, events.program,
    )  # fmt: skip
    return FileResult(source, [piece], [])


def place_on_bars(
    notes: np.ndarray, events: NoteEvents, grid: Grid, pickup: int | None = None
) -> tuple[np.ndarray, Meter, int]:
    """The piece's meter from its time signature events, and its pickup put before bar 1.

    `pickup` (steps) comes from the score where the format writes one (the first bar of an ABC
    tune or a MusicXML part). MIDI has no pickup: a file that starts with one either pads it to
    a whole bar or gives it a short time signature of its own, and both read right as they are.
    """
    eps = grid.steps_per_beat
    meter = meter_from_ticks(list(events.time_signatures), events.ticks_per_beat / eps, eps)
    lead = lead_for_pickup(pickup or 0, meter, eps)
    notes, meter = with_lead(notes, meter, lead)
    return notes, meter, lead


def _abc_result(text: str, source: str, grid: Grid) -> FileResult:
    header, tunes = abc_format.split_tunes(text)
    inherited = abc_format.inherited_fields(header)
    if not tunes:
        raise CorpusError(source, Reason.ABC_NO_TUNE, "ABC file has no tune (no X: line)")
    pieces, failures = [], []
    for tune, midi in zip(tunes, abc_format.render_tunes(text, tunes, source), strict=True):
        try:
            pieces.append(_abc_piece(tune, midi, source, grid, inherited))
        except CorpusError as exc:  # one broken tune: recorded, the others go on
            failures.append(
                CorpusError(source, exc.reason, f"tune {tune.index} ({tune.title}): {exc.detail}")
            )
    if not pieces:
        raise CorpusError(
            source,
            Reason.ABC_NO_TUNE,
            f"no parseable tune among {len(tunes)}; first: {failures[0].detail}",
        )
    return FileResult(source, pieces, failures)


def _abc_piece(
    tune: abc_format.AbcTune,
    midi: tuple[bytes, int] | CorpusError,
    source: str,
    grid: Grid,
    inherited: list[str],
) -> Piece:
    if isinstance(midi, CorpusError):
        raise midi
    events = parse_midi(midi[0], source)
    notes, stats = encode_events(events, grid, source)
    stats.dropped["abc2midi_errors"] = midi[1]
    written = written_bars(inherited, tune.text, events, len(notes), grid)
    if written is not None:  # the bar lines as written, where they account for the MIDI
        meter, lead, _ = written
        notes, _ = with_lead(notes, meter, lead)
    else:  # the meter's bar lines from the first full bar
        pickup = round(tune_pickup(inherited, tune.text) * 4 * grid.steps_per_beat)
        notes, meter, lead = place_on_bars(notes, events, grid, pickup)
    return Piece(
        notes, source, tune.index, tune.title, tune.text, stats.as_dict(), meter, lead,
        events.tempo_bpm, events.program,
    )  # fmt: skip


def written_bars(
    inherited: list[str], text: str, events: NoteEvents, steps: int, grid: Grid
) -> tuple[Meter, int, int] | None:
    """(meter, lead, steps of music) from an ABC tune's written bar lines (`abc_bars`), or None.

    Used only when the bars, repeats expanded as abc2midi plays them, last as long as its MIDI
    (to within one bar: a closing rest is not in the notes) and when the MIDI has no time
    signature change of its own the text did not give; otherwise the meter's bar lines are
    kept, so a tune read wrongly here keeps the bar lines it had.
    """
    if grid.meter == "fixed":
        return None
    bars = tune_bars(inherited, text)
    if not bars:
        return None
    eps = grid.steps_per_beat
    meter, lead, length = bar_meter(counted(bars), eps)
    last = meter.changes[-1][1].bar_steps(eps)
    if not (steps <= length + 1 and length - steps < last):
        return None
    signatures = {str(TimeSignature(n, d)) for _, n, d in events.time_signatures if n and d}
    if not signatures <= {str(s) for s in {b.signature for b in bars}}:
        return None
    return meter, lead, length


def _musicxml_result(data: bytes, source: str, grid: Grid) -> FileResult:
    """MusicXML through music21 (slow; optional): rendered to MIDI, then read like MIDI."""
    try:
        import music21

        score = (
            _parse_mxl(data)
            if source.lower().endswith(".mxl")
            else music21.converter.parseData(data)
        )
        midi = music21.midi.translate.streamToMidiFile(score).writestr()
        pickup = _musicxml_pickup(score, grid.steps_per_beat)
    except CorpusError:
        raise
    except Exception as exc:
        raise CorpusError(
            source, Reason.UNREADABLE, f"MusicXML could not be parsed: {exc}"
        ) from None
    return _midi_result(midi, source, grid, pickup)


def _musicxml_pickup(score, steps_per_quarter: int) -> int:
    """Steps of the first measure when it is shorter than its time signature's bar."""
    parts = list(getattr(score, "parts", [])) or [score]
    measures = parts[0].getElementsByClass("Measure")
    if not measures:
        return 0
    first = measures[0]
    signature = first.timeSignature or first.getContextByClass("TimeSignature")
    if signature is None:
        return 0
    bar = TimeSignature(signature.numerator, signature.denominator).bar_length * 4
    length = first.duration.quarterLength
    return round(length * steps_per_quarter) if 0 < length < bar else 0


def _parse_mxl(data: bytes):
    import tempfile

    import music21

    with tempfile.NamedTemporaryFile(suffix=".mxl") as handle:
        handle.write(data)
        handle.flush()
        return music21.converter.parse(handle.name)
