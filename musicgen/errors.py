"""Typed errors. Inside the library they carry a reason code; at the CLI edge they become one line."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path


class Reason(StrEnum):
    """Why an input was refused: the code used in counters (`rejected_<reason>`) and `rejected/`."""

    EMPTY = "empty"
    UNKNOWN_FORMAT = "unknown_format"
    TRUNCATED = "truncated"
    BAD_HEADER = "bad_header"
    DIVISION_ZERO = "division_zero"
    SMPTE_DIVISION = "smpte_division"
    NO_TRACKS = "no_tracks"
    ONLY_DRUMS = "only_drums"
    NO_PITCHED_NOTES = "no_pitched_notes"
    NO_NOTES_IN_RANGE = "no_notes_in_range"
    ABC_NO_TUNE = "abc_no_tune"
    ABC_TUNE = "abc_tune"
    TOO_LONG = "too_long"
    UNREADABLE = "unreadable"
    NOT_A_FILE = "not_a_file"  # a FIFO, a device, a socket, a folder
    TOO_LARGE = "too_large"  # over the file-size cap (--max-file-size)
    PARSER_CRASH = "parser_crash"
    DUPLICATE = "duplicate"


def first_line(error: object, empty: str = "") -> str:
    """The first non-blank line of an error (or of a message): what a one-line report quotes of
    a longer text such as MLflow's or Arrow's. An empty message gives `empty`, else the error's
    type name."""
    for line in str(error).splitlines():
        if line.strip():
            return line.strip()
    return empty or type(error).__name__


class MgError(Exception):
    """Base of every error `mg` reports as one line."""


class CorpusError(MgError):
    """An input file (or one tune of it) that cannot become a piece."""

    def __init__(self, path: str | Path, reason: Reason, detail: str) -> None:
        self.path = str(path)
        self.reason = Reason(reason)
        self.detail = detail
        super().__init__(f"{self.path}: {detail}")

    def __reduce__(self):  # keep the fields when Beam or multiprocessing pickles the error
        return (type(self), (self.path, self.reason, self.detail))


class DatasetError(MgError):
    """A dataset folder that is missing, empty, of another schema, or of another grid."""


class ModelLoadError(MgError):
    """A model URI or folder that does not hold a model `mg` can load."""
