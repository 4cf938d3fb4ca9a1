"""Beam Metrics counters of ingest: every drop has a name, and the manifest reads them back."""

from __future__ import annotations

import functools

from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter

NAMESPACE = "mg.ingest"

FILES_READ = "files_read"
TUNES_READ = "tunes_read"
PIECES_TOO_SHORT = "pieces_too_short"
TRANSPOSITIONS_EMPTY = "transpositions_empty"
SEGMENTS_PADDED = "segments_padded"
PITCHES_OUT_OF_RANGE = "pitches_out_of_range"
DUPLICATES = "duplicates"
PICKUPS = "tunes_with_pickup"
METER_CHANGES = "tunes_with_meter_changes"
GROUPS = "split_groups"  # split groups of two or more distinct tunes (joined by phrases)
GROUPED_TUNES = "split_grouped_tunes"  # the tunes in those groups
LARGEST_GROUP = "split_largest_group"  # tunes in the largest (counted once, by the one step)
PHRASES_STOPLISTED = "split_phrases_stoplisted"  # phrases shared by too many tunes to join them
GROUP_SIZE_PREFIX = "split_group_size_"  # groups by their tunes: split_group_size_2
METER_PREFIX = "meter_"  # tunes by their first time signature: meter_6_8
# counted per parsed piece from `Piece.stats` (what the encoder dropped)
ENCODE_DROPS = ("drum_notes", "notes_beyond_cap", "steps_truncated")
# abc2midi's complaints about tunes it converted all the same: warnings, not drops (the tune's
# music is in the dataset). ABC2MIDI_ERRORS is the per-piece stat: the error lines it printed.
ABC2MIDI_ERRORS = "abc2midi_errors"
TUNES_WITH_ABC2MIDI_ERRORS = "tunes_kept_with_abc2midi_errors"
ABC2MIDI_ERROR_LINES = "abc2midi_error_lines"


def inc(name: str, value: int = 1) -> None:
    if value:
        _counter(name).inc(int(value))


@functools.lru_cache(maxsize=4096)
def _counter(name: str):
    """One Beam counter object a name, made once (Beam's own advice: it finds the bundle's
    metrics container at each `inc`); ingest counts ~11 times a file."""
    return Metrics.counter(NAMESPACE, name)


def rejected_name(reason: str) -> str:
    return f"rejected_{reason}"


def split_name(split: str, what: str) -> str:
    """`train_pieces`, `valid_segments`, `test_steps`, …"""
    return f"{split}_{what}"


def meter_name(signature: object) -> str:
    """'6/8' -> 'meter_6_8'."""
    return METER_PREFIX + str(signature).replace("/", "_")


def meters_of(counters: dict[str, int]) -> dict[str, int]:
    """Tunes by first time signature, most common first: {'6/8': 712, …}."""
    found = {
        k[len(METER_PREFIX) :].replace("_", "/"): v
        for k, v in counters.items()
        if k.startswith(METER_PREFIX)
    }
    return dict(sorted(found.items(), key=lambda kv: (-kv[1], kv[0])))


def group_size_name(size: int) -> str:
    return f"{GROUP_SIZE_PREFIX}{size}"


def group_sizes_of(counters: dict[str, int]) -> dict[str, int]:
    """Joined groups by their size in tunes, smallest first: {'2': 40, '3': 6, …}."""
    found = {
        int(k[len(GROUP_SIZE_PREFIX) :]): v
        for k, v in counters.items()
        if k.startswith(GROUP_SIZE_PREFIX)
    }
    return {str(size): found[size] for size in sorted(found)}


def pitch_name(midi_pitch: int) -> str:
    return f"pitch_{midi_pitch:03d}"


def read_counters(result) -> dict[str, int]:
    """Our counters from a PipelineResult: committed values, else attempted ones."""
    try:
        query = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
    except (NotImplementedError, AttributeError):  # a runner without metrics support
        return {}
    values: dict[str, int] = {}
    for counter in query["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        name = counter.key.metric.name
        values[name] = values.get(name, 0) + int(value or 0)
    return dict(sorted(values.items()))
