"""Copy check of a dataset: does any test segment appear whole in the training split?

A test segment (untransposed) "appears whole" when its longest run of frames found in a training
segment (any transposition; `mg evaluate`'s own `longest_common_runs`) covers its longest
stretch of sounding frames: a silent frame never matches, so a segment with rests is judged by
its longest rest-free stretch. Reported for the dataset as ingested (split by its `group`
column) and, from the same rows, for a split by `piece_id` (the content hash that decided
splits before schema 2), untransposed rows only on both sides; with `--corpus`, also by the
opening fingerprint alone (the split key before phrase groups) and by the phrase groups
(`mg.pipelines.groups.join_groups`, what ingest computes), with the groups' sizes and each
key's split proportions.

Run: `python benchmarks/meter_copy_check.py DATASET`, or `--corpus FOLDER...` to build the rows
in-process with ingest's own functions (read, drop exact copies, segment; no transposition).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mg.data.schema import SPLITS, table_arrays
from mg.evaluation.music_stats import longest_common_runs, pack_pressed
from mg.pipelines.tensors import split_of


def load(root: Path) -> tuple[np.ndarray, list[dict]]:
    """Packed pressed rolls [N, T, bytes] of every row, and each row's split and keys."""
    rolls, meta = [], []
    for split in SPLITS:
        for path in sorted((root / split).glob("*.parquet")):
            table = pq.read_table(path, columns=["notes", "piece_id", "group", "transpose"])
            for batch in table.to_batches(max_chunksize=256):
                rolls.append(
                    pack_pressed(table_arrays(pa.Table.from_batches([batch]), ("notes",))["notes"])
                )
            rows = table.select(["piece_id", "group", "transpose"]).to_pylist()
            meta += [{**row, "split": split} for row in rows]
    return np.concatenate(rolls), meta


def longest_sounding(packed: np.ndarray) -> np.ndarray:
    """[N, T, bytes] -> the longest run of frames with a pitch sounding, per segment."""
    sounding = packed.any(axis=-1)
    out = np.zeros(len(packed), dtype=np.int64)
    for i, row in enumerate(sounding):
        edges = np.diff(np.concatenate([[0], row.astype(np.int8), [0]]))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        out[i] = int((ends - starts).max()) if len(starts) else 0
    return out


MIN_MUSIC = 32  # frames: two 4/4 bars; a segment's one-bar tail matches any common cadence


def whole_copies(rolls: np.ndarray, train: np.ndarray, test: np.ndarray) -> tuple[int, ...]:
    """(test segments, of them appearing whole in train, of those the ones whose longest
    sounding stretch is at least MIN_MUSIC frames, of them sharing >= 8 bars)."""
    queries = rolls[test]
    runs = longest_common_runs(queries, rolls[train])
    need = longest_sounding(queries)
    whole = (runs >= need) & (need > 0)
    return (
        len(queries),
        int(np.count_nonzero(whole)),
        int(np.count_nonzero(whole & (need >= MIN_MUSIC))),
        int(np.count_nonzero(runs >= 128)),
    )


def from_corpus(folders: list[str]) -> tuple[np.ndarray, list[dict]]:
    """Rows of every tune of the folders as ingest cuts them (exact copies dropped); each row's
    `opening` is its tune's opening fingerprint, `group` its phrase group as ingest joins them."""
    from mg.pipelines.groups import group_sizes, join_groups
    from mg.pipelines.tensors import segment_arrays
    from mg.representation import grid_meter, read_file
    from mg.representation.fingerprint import phrase_fingerprints
    from mg.representation.grid import Grid
    from mg.representation.summary import supported_files

    grid, rolls, meta, seen, phrases = Grid(), [], [], set(), {}
    for folder in folders:
        for path in supported_files(folder):
            for piece in read_file(path, grid).pieces:
                if piece.piece_id in seen or len(piece.notes) < grid.gamma:
                    continue
                seen.add(piece.piece_id)
                notes, _, _ = segment_arrays(piece.notes, grid, grid_meter(piece.meter, grid))
                rolls.append(pack_pressed(notes))
                phrases[(piece.piece_id, piece.group)] = phrase_fingerprints(piece.notes)
                row = {"piece_id": piece.piece_id, "opening": piece.group, "transpose": 0}
                meta += [{**row, "split": "-"}] * len(notes)
    groups, stopped = join_groups(phrases)
    sizes = group_sizes(groups)
    print(
        f"{len(phrases)} tunes; {sum(sizes.values())} groups of 2+ tunes holding {len(groups)} "
        f"tunes, largest {max(sizes, default=0)}; {stopped} phrases stop-listed; groups by "
        f"size: {sizes}"
    )
    for row in meta:
        row["group"] = groups.get(row["piece_id"], row["opening"])
    return np.concatenate(rolls), meta


def proportions(split: np.ndarray, meta: list[dict]) -> str:
    """Tunes and segments per split, as fractions (untransposed rows)."""
    tunes = {m["piece_id"]: s for m, s in zip(meta, split, strict=True) if m["transpose"] == 0}
    by_tune = np.array(list(tunes.values()))
    rows = split[[m["transpose"] == 0 for m in meta]]
    return " / ".join(
        f"{np.mean(by_tune == name):.3f} ({np.mean(rows == name):.3f})" for name in SPLITS
    )


def main(root: str, folders: list[str] | None = None) -> None:
    rolls, meta = from_corpus(folders) if folders else load(Path(root))
    splits = np.array([m["split"] for m in meta])
    untransposed = np.array([m["transpose"] == 0 for m in meta])
    ratios = (0.8, 0.1, 0.1)
    results = {}
    if not folders:
        train, test = splits == "train", (splits == "test") & untransposed
        results["as ingested (split group, train with its transpositions)"] = whole_copies(
            rolls, np.flatnonzero(train), np.flatnonzero(test)
        )
    keys = {"piece_id": "piece_id", "group": "group"}
    if folders:
        keys = {"piece_id": "piece_id", "opening fingerprint": "opening", "phrase group": "group"}
    shares = {}
    if not folders:
        shares["as ingested (split group, train with its transpositions)"] = proportions(
            splits, meta
        )
    for name, key in keys.items():
        split = np.array([split_of(m[key], ratios) for m in meta])
        train = np.flatnonzero((split == "train") & untransposed)
        test = np.flatnonzero((split == "test") & untransposed)
        label = f"re-split by {name}, untransposed rows only"
        results[label] = whole_copies(rolls, train, test)
        shares[label] = proportions(split, meta)
    print(f"{root}: {len(meta)} rows")
    print(
        "| split | test segments | appear whole in train | of them >= 2 bars of music "
        "| share >= 128 frames | train / valid / test: tunes (segments) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for name, (count, whole, music, long) in results.items():
        print(f"| {name} | {count} | {whole} | {music} | {long} | {shares[name]} |")


if __name__ == "__main__":
    if sys.argv[1] == "--corpus":
        main(" ".join(sys.argv[2:]), sys.argv[2:])
    else:
        main(sys.argv[1])
