"""manifest.json: what a dataset is (grid, kernel, options, corpus) and what ingest kept and dropped.

The counts come from the run's Beam counters (`counters.read_counters`); `mg.data.schema`
reads the manifest back (`read_manifest`, `manifest_grid`).
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime

from mg import __version__
from mg.data.schema import SCHEMA_VERSION, SPLITS
from mg.pipelines import counters as names
from mg.pipelines.groups import MAX_TUNES, MIN_SHARED
from mg.pipelines.options import IngestConfig
from mg.representation import kernel_spec
from mg.representation.fingerprint import PHRASE_NOTES, WINNOW

DROPPED = (
    names.PITCHES_OUT_OF_RANGE,
    names.SEGMENTS_PADDED,
    names.PIECES_TOO_SHORT,
    names.TRANSPOSITIONS_EMPTY,
    names.DUPLICATES,
    *names.ENCODE_DROPS,
)


def build_manifest(
    config: IngestConfig,
    counters: dict[str, int],
    corpus: dict,
    shards: dict[str, tuple[int, int]],
    run_id: str,
) -> dict:
    """`corpus`: files, checksum, listing hash, ignored; `shards`: part file → (rows, bytes)."""
    meters = names.meters_of(counters)
    grid = replace(config.grid, common_meter=next(iter(meters), config.grid.common_meter))
    splits = {split: _split_counts(split, counters, shards) for split in SPLITS}
    segments = sum(s["segments"] for s in splits.values())
    size = sum(s["bytes"] for s in splits.values())
    prefix = "rejected_"
    return {
        "schema_version": SCHEMA_VERSION,
        "created_by": f"mg {__version__}",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "run_id": run_id,
        "grid": grid.to_dict(),
        "kernel": kernel_spec(grid),
        "meter": _meter_record(grid, meters, counters),
        "split_groups": _split_groups(counters),
        "options": config.options_record(),
        "corpus": {**corpus, "tunes": counters.get(names.TUNES_READ, 0)},
        "splits": splits,
        "rejected": {k[len(prefix) :]: v for k, v in counters.items() if k.startswith(prefix)},
        "dropped": {name: counters.get(name, 0) for name in DROPPED},
        "kept_with_warnings": {
            name: counters.get(name, 0)
            for name in (names.TUNES_WITH_ABC2MIDI_ERRORS, names.ABC2MIDI_ERROR_LINES)
        },
        "pitch_histogram": {
            str(p): counters.get(names.pitch_name(p), 0) for p in range(grid.low, grid.high + 1)
        },
        "bytes_per_segment": round(size / segments, 1) if segments else None,
        "counters": counters,
    }


def _split_groups(counters: dict[str, int]) -> dict:
    """The tunes joined into one split by the phrases they share (`mg.pipelines.groups`)."""
    return {
        "key": (
            "tunes sharing a phrase of the top line (intervals and relative rhythm, "
            f"{PHRASE_NOTES} notes) are one group, named by the smallest opening fingerprint"
        ),
        "phrase_notes": PHRASE_NOTES,
        "winnow": WINNOW,
        "stoplist_above_tunes": MAX_TUNES,
        "min_shared_phrases": MIN_SHARED,
        "groups": counters.get(names.GROUPS, 0),
        "tunes": counters.get(names.GROUPED_TUNES, 0),
        "largest": counters.get(names.LARGEST_GROUP, 0),
        "sizes": names.group_sizes_of(counters),
        "phrases_stoplisted": counters.get(names.PHRASES_STOPLISTED, 0),
    }


def _meter_record(grid, meters: dict[str, int], counters: dict[str, int]) -> dict:
    """How bar lines were found, and what meters the tunes are in."""
    how = (
        "bar lines from each tune's time signatures and their changes (MIDI events, ABC M: "
        "fields inline ones included, MusicXML), a pickup put before the first full bar"
        if grid.meter == "score"
        else f"fixed: every bar {grid.beats_per_bar}/4 from the first step, time signatures ignored"
    )
    return {
        "mode": grid.meter,
        "how": how,
        "steps_per_quarter": grid.steps_per_beat,
        "tunes_by_meter": meters,
        "tunes_with_pickup": counters.get(names.PICKUPS, 0),
        "tunes_with_meter_changes": counters.get(names.METER_CHANGES, 0),
        "common_meter": grid.common_meter,
    }


def _split_counts(split: str, counters: dict[str, int], shards: dict[str, tuple[int, int]]) -> dict:
    """Segments and bytes from the files themselves; pieces and steps from the counters."""
    parts = [p for p in shards if os.path.basename(os.path.dirname(p)) == split]
    return {
        "pieces": counters.get(names.split_name(split, "pieces"), 0),
        "segments": sum(shards[p][0] for p in parts),
        "steps": counters.get(names.split_name(split, "steps"), 0),
        "shards": len(parts),
        "bytes": sum(shards[p][1] for p in parts),
    }


def summary_line(manifest: dict, out: str, seconds: float) -> str:
    """One line for the end of `mg ingest`."""
    splits = manifest["splits"]
    pieces = sum(s["pieces"] for s in splits.values())
    segments = sum(s["segments"] for s in splits.values())
    per_split = " / ".join(f"{name} {splits[name]['pieces']}" for name in SPLITS)
    rejected = manifest["rejected"]
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(rejected.items()))
    return (
        f"ingest: {manifest['corpus']['files']} files, {pieces} pieces ({per_split}), "
        f"{segments} segments, {sum(rejected.values())} rejected"
        + (f" ({reasons})" if reasons else "")
        + f" in {seconds:.1f} s -> {out}"
    )
