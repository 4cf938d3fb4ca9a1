"""The served model's answer: requests (mg.tracking.endpoint) in, piece records out.

Sampling goes through the model's input kind exactly as `mg generate` does (same sampler, same
primer reading, same MIDI writer), so a request and the command with the same seed and options
give byte-identical MIDI. The notes of a piece are read back from that MIDI, so they describe
the file the client receives.
"""

from __future__ import annotations

import base64
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mg.errors import CorpusError, MgError, first_line
from mg.generation.generate import sample_pieces
from mg.generation.writing import midi_bytes
from mg.kinds import kind_of
from mg.models.saving import LoadedModel
from mg.representation.grid import Grid
from mg.tracking.endpoint import (
    BadRequest,
    GenerateRequest,
    NoteRecord,
    PieceRecord,
    ServerFault,
    UsedOptions,
    decode_primer,
    parse_requests,
)

logger = logging.getLogger(__name__)
ROUND_SECONDS = 6  # decimals: microseconds


def answer(loaded: LoadedModel, model_input: Any) -> list[dict[str, Any]]:
    """Every piece of every request, as JSON-ready dicts (one `PieceRecord` each)."""
    requests = parse_requests(model_input)
    try:
        return [
            piece.model_dump()
            for index, request in enumerate(requests)
            for piece in answer_one(loaded, request, index)
        ]
    except BadRequest:
        raise
    except Exception as exc:  # the model's fault: logged in full, answered in one line
        logger.exception("generation failed")
        raise ServerFault(f"generation failed: {type(exc).__name__}: {first_line(exc)}") from exc


def answer_one(loaded: LoadedModel, request: GenerateRequest, index: int) -> list[PieceRecord]:
    """The `num` pieces of one request, sampled as one batch by `mg generate`'s own flow."""
    kind = kind_of(loaded.family)
    options = request.sampling(kind.piece_options(loaded.grid, num=1, seed=0))
    keep = request.keep_primer is not False
    with primer_file(request.primer) as (form, primer):
        try:
            sampled = sample_pieces(loaded, options, primer, keep)
        except CorpusError as exc:  # only the primer is read from a file
            raise BadRequest(f"primer ({form}): {first_line(exc.detail)}") from None
        except MgError as exc:
            if primer is None:
                raise
            raise BadRequest(f"primer ({form}): {first_line(exc)}") from None
        except ValueError as exc:  # options the sampler refuses (a meter, a key it does not know)
            raise BadRequest(first_line(exc).removeprefix("--")) from None  # no CLI flag here
    used = UsedOptions(
        **asdict(options),
        tempo=sampled.tempo(request.tempo),  # as `mg generate`: asked, else the primer's
        program=sampled.program(request.program),
        keep_primer=keep,
        primer_length=sampled.primer_steps,
    )
    return [
        piece_record(kind.to_notes(piece, sampled.grid), sampled.grid, used, index, i, _abc(piece))
        for i, piece in enumerate(sampled.pieces)
    ]


def _abc(piece: Any) -> str | None:
    """A text family's piece is its ABC tune; a note family's is a note matrix."""
    return piece if isinstance(piece, str) else None


@contextmanager
def primer_file(primer: str | None) -> Iterator[tuple[str, Path | None]]:
    """The request's primer as a file, read as `mg generate --primer` reads one: its form
    ("abc" or "midi") and its path, for as long as the request is answered."""
    if not primer:
        yield "none", None
        return
    form, data = decode_primer(primer)
    with tempfile.TemporaryDirectory(prefix="mg-primer-") as folder:
        path = Path(folder) / ("primer.abc" if form == "abc" else "primer.mid")
        path.write_bytes(data)
        yield form, path


def piece_record(
    notes, grid: Grid, used: UsedOptions, request: int, index: int, abc: str | None
) -> PieceRecord:
    """One piece: its MIDI (None when a tune has no music), the notes in it, its options."""
    if notes is None:
        return PieceRecord(
            request=request, index=index, abc=abc, steps=0, seconds=0.0, notes=[], options=used
        )
    midi = midi_bytes(notes, grid, used.tempo, used.program)
    records, seconds_per_step = note_records(midi, grid)
    return PieceRecord(
        request=request,
        index=index,
        midi=base64.b64encode(midi).decode("ascii"),
        abc=abc,
        steps=len(notes),
        seconds=round(len(notes) * seconds_per_step, ROUND_SECONDS),
        notes=records,
        options=used,
    )


def note_records(midi: bytes, grid: Grid) -> tuple[list[NoteRecord], float]:
    """Every note of a MIDI file, by start then pitch; and the seconds of one step (its tempo)."""
    import symusic

    score = symusic.Score.from_midi(midi)
    timed = score.to("second")
    ticks_per_step = score.ticks_per_quarter // grid.steps_per_beat
    qpm = score.tempos[0].qpm if len(score.tempos) else 120.0  # MIDI's own default
    records = [
        NoteRecord(
            pitch=note.pitch,
            start=round(when.start, ROUND_SECONDS),
            end=round(when.end, ROUND_SECONDS),
            start_step=note.start // ticks_per_step,
            end_step=note.end // ticks_per_step,
            velocity=note.velocity,
            track=track,
        )
        for track, (ticks, seconds) in enumerate(zip(score.tracks, timed.tracks, strict=True))
        for note, when in zip(ticks.notes, seconds.notes, strict=True)
    ]
    records.sort(key=lambda r: (r.start_step, r.pitch, r.track))
    return records, 60.0 / qpm / grid.steps_per_beat
