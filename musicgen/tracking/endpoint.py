"""What the served model takes and answers (`mlflow models serve`, `mg serve`, `predict`).

A request is a set of sampling options, all optional: the options of `mg generate` (`steps`,
`num`, `seed`, `temperature`, `top_p`, the controls `key`, `pitch_range`, `max_polyphony`,
`meter`, `tempo`, `program` and `keep_primer`) and a `primer`, either ABC text or a base64
MIDI file. Each request answers `num` pieces, each a `PieceRecord`: the MIDI file (base64, the very bytes `mg generate` writes
for the same model, seed and options), its notes as records, the options used and, for text
families, the ABC tune.

The pydantic types below are the model's MLflow signature (inferred from `predict`'s type
hints) and the validator of every request: a bad one is a `BadRequest`, one line naming the
option and the problem, which the scoring server answers with HTTP 400.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import fields, replace
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, INVALID_PARAMETER_VALUE
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mg.generation.sampling import SamplingOptions

MAX_STEPS = 16_384  # a request's steps (characters for text families): about 17 minutes at 120 BPM
MAX_PIECES = 64  # pieces in one call, all requests together
MAX_PRIMER_CHARS = 1_000_000
SEED_RANGE = (-(2**63), 2**64 - 1)  # what torch.Generator.manual_seed takes


class GenerateRequest(BaseModel):
    """One request: `num` pieces sampled as one batch, as `mg generate` samples them."""

    model_config = ConfigDict(extra="forbid", strict=True)

    steps: int | None = Field(None, ge=1, le=MAX_STEPS)  # default: one segment of the grid
    num: int | None = Field(None, ge=1, le=MAX_PIECES)
    seed: int | None = Field(None, ge=SEED_RANGE[0], le=SEED_RANGE[1])
    temperature: float | None = Field(None, gt=0)
    top_p: float | None = Field(None, gt=0, le=1)
    key: str | None = None  # "D:minor": only the scale's pitches sound
    pitch_range: str | None = None  # "55:84": only MIDI pitches LOW..HIGH sound
    max_polyphony: int | None = Field(None, ge=1)
    meter: str | None = None  # "6/8": the pieces' time signature (else the grid's)
    tempo: float | None = Field(None, ge=20, le=400)  # BPM of the MIDI (the primer's, else 120)
    program: int | None = Field(None, ge=0, le=127)  # GM instrument (the primer's, else 0)
    primer: str | None = Field(None, max_length=MAX_PRIMER_CHARS)  # ABC text or base64 MIDI
    keep_primer: bool | None = None  # default true: the primer's bars open the piece

    def sampling(self, defaults: SamplingOptions) -> SamplingOptions:
        """The sampler's options: the request's values over `defaults`."""
        given = {f.name: getattr(self, f.name, None) for f in fields(SamplingOptions)}
        return replace(defaults, **{k: v for k, v in given.items() if v is not None})


INTEGER_OPTIONS = {
    name for name, field in GenerateRequest.model_fields.items() if field.annotation == int | None
}


class NoteRecord(BaseModel):
    """One note of a piece's MIDI file: times in seconds and in steps of the model's grid."""

    pitch: int  # MIDI pitch
    start: float  # seconds
    end: float
    start_step: int
    end_step: int
    velocity: int
    track: int  # the MIDI track it is in (from 0)


class UsedOptions(BaseModel):
    """The options a piece was sampled with, defaults filled in: send them back, get it again."""

    steps: int
    num: int
    seed: int
    temperature: float
    top_p: float
    key: str | None = None
    pitch_range: str | None = None
    max_polyphony: int | None = None
    meter: str | None = None
    tempo: float
    program: int
    keep_primer: bool
    primer_length: int  # steps (characters for text families) of the primer read; 0 without


class PieceRecord(BaseModel):
    """One generated piece."""

    request: int  # which request of the call it answers (from 0)
    index: int  # its number within the request: `mg generate`'s `<model>-s<seed>-<index>.mid`
    midi: str | None = None  # base64 Standard MIDI File; None for a tune that does not parse
    abc: str | None = None  # text families: the generated ABC tune
    steps: int  # length on the grid (0 without music)
    seconds: float
    notes: list[NoteRecord]
    options: UsedOptions


class OneLineError(MlflowException):
    """An error the scoring server answers with its message: one line, as it was raised."""

    @property
    def message(self) -> str:
        return self._problem

    @message.setter
    def message(self, value: str) -> None:
        # The scoring server rewrites a failed prediction's message into "Failed to predict data
        # '<the whole request>'. \nError: <message>"; the client gets the first one, one line.
        if not hasattr(self, "_problem"):
            self._problem = value


class BadRequest(OneLineError):
    """A request the model cannot answer: HTTP 400."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem, error_code=INVALID_PARAMETER_VALUE)


class ServerFault(OneLineError):
    """A failure that is the model's, not the request's: HTTP 500 (the traceback goes to the
    server's log)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem, error_code=INTERNAL_ERROR)


def parse_requests(model_input: Any) -> list[GenerateRequest]:
    """`predict`'s input as requests: None (one request of defaults), a dict of options, a list
    of them, or a pandas DataFrame (a request per row); BadRequest names the first problem."""
    rows = _rows(model_input)
    if not rows:
        raise BadRequest('no request: send a list of option objects, e.g. [{"seed": 1}]')
    requests = [_request(row, i, len(rows)) for i, row in enumerate(rows)]
    pieces = sum(r.num or 1 for r in requests)
    if pieces > MAX_PIECES:
        raise BadRequest(f"num: {pieces} pieces asked in one call; at most {MAX_PIECES}")
    return requests


def _rows(model_input: Any) -> list[Any]:
    if model_input is None:
        return [{}]
    if isinstance(model_input, dict):
        return [model_input]
    if isinstance(model_input, list | tuple):
        return list(model_input)
    if hasattr(model_input, "to_dict"):  # a pandas DataFrame: a request per row
        return [_whole_numbers(row) for row in model_input.to_dict(orient="records")]
    raise BadRequest(f"expected a list of option objects, got {type(model_input).__name__}")


def _request(row: Any, index: int, count: int) -> GenerateRequest:
    where = f"request {index}: " if count > 1 else ""
    if isinstance(row, BaseModel):
        row = row.model_dump(exclude_none=True)
    if not isinstance(row, dict):
        raise BadRequest(f"{where}expected an object of options, got {_shown(row)}")
    try:
        return GenerateRequest.model_validate(_plain(row))
    except ValidationError as exc:
        raise BadRequest(where + _problem(exc)) from None


def _whole_numbers(row: dict) -> dict:
    """A DataFrame row's integer options back as integers: a column with an empty cell holds
    floats (16 becomes 16.0)."""
    whole = {
        name: int(value)
        for name, value in row.items()
        if name in INTEGER_OPTIONS and isinstance(value, float) and value.is_integer()
    }
    return {**row, **whole}


def _plain(row: dict) -> dict[str, Any]:
    """Numpy scalars as Python values; absent cells of a DataFrame row (None, NaN) left out."""
    plain = {}
    for name, value in row.items():
        value = value.item() if hasattr(value, "item") and not isinstance(value, str) else value
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        plain[str(name)] = value
    return plain


def _problem(exc: ValidationError) -> str:
    """The first validation error as `option: problem (got value)`."""
    error = exc.errors()[0]
    option = ".".join(str(part) for part in error["loc"]) or "request"
    if error["type"] == "extra_forbidden":
        known = ", ".join(GenerateRequest.model_fields)
        return f"unknown option {option!r}; the options are: {known}"
    return f"{option}: {error['msg'].lower()} (got {_shown(error.get('input'))})"


def _shown(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def decode_primer(primer: str) -> tuple[str, bytes]:
    """("abc", text) or ("midi", file bytes). ABC text has header fields (`X:`, `K:`); base64
    never holds a colon, so the two cannot be confused."""
    if ":" in primer:
        return "abc", primer.encode()
    try:
        data = base64.b64decode("".join(primer.split()), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(
            "primer: neither ABC text (no header field such as X: or K:) nor base64 MIDI"
        ) from None
    return "midi", data
