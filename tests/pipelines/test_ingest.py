"""`mg.pipelines.ingest` end to end on a mixed real corpus with bad files (see conftest.py)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mg.data.notes import Dataset
from mg.data.schema import SPLITS, manifest_grid, read_manifest, table_arrays
from mg.pipelines.ingest import ingest
from mg.representation import (
    ARTICULATED,
    context_matrix,
    kernel_spec,
    position_codes,
    read_file,
    segment_notes,
)
from mg.representation.grid import Grid
from tests.pipelines.ingest_corpus import corpus_config


def parts(out: Path, split: str) -> list[Path]:
    return sorted((out / split).glob("part-*.parquet"))


def split_table(out: Path, split: str) -> pa.Table:
    return pa.concat_tables([pq.read_table(p) for p in parts(out, split)])


def rejected_records(out: Path) -> list[dict]:
    lines = (out / "rejected" / "rejected.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def assert_same_dataset(out: Path, reference: Path) -> None:
    for split in SPLITS:
        names = [p.name for p in parts(out, split)]
        assert names == [p.name for p in parts(reference, split)]
        for name in names:
            assert pq.read_table(out / split / name).equals(pq.read_table(reference / split / name))
    assert (out / "rejected" / "rejected.jsonl").read_bytes() == (
        reference / "rejected" / "rejected.jsonl"
    ).read_bytes()
    ours, theirs = read_manifest(out), read_manifest(reference)
    for key in ("splits", "rejected", "dropped", "pitch_histogram", "corpus", "grid", "kernel"):
        assert ours[key] == theirs[key], key


def expected_segments(piece, shift: int, grid: Grid):
    """What the representation gives for one transposition, computed here from its functions:
    segments cut at the piece's bar lines, the context of the whole piece padded with silence."""
    notes, alpha, steps = piece.notes, piece.notes.shape[1], grid.segment_steps
    shifted = np.zeros_like(notes)
    low, high = max(0, -shift), alpha - max(0, shift)
    if low < high:
        shifted[:, low + shift : high + shift] = notes[:, low:high]
    cut = segment_notes(shifted, grid, piece.meter)
    padded = np.zeros((max(len(notes), cut.starts[-1] + steps), alpha, 3), np.uint8)
    padded[: len(notes)] = shifted
    whole = context_matrix(padded, grid.steps_per_beat)
    context = np.stack([whole[s : s + steps] for s in cut.starts])
    positions = np.stack([position_codes(piece.meter, grid, steps, s) for s in cut.starts])
    return shifted, cut, context, positions


@pytest.fixture(scope="module")
def good_pieces(corpus) -> dict[str, list]:
    """What the representation reads from each good file (read once for the module)."""
    return {s: read_file(corpus.root / s, Grid(), s).pieces for s in corpus.good}


def test_every_good_tune_lands_in_the_dataset(corpus, clean_run, good_pieces):
    grid = Grid()
    tables = [split_table(clean_run.out, s) for s in SPLITS]
    present = {
        (s, t)
        for tab in tables
        for s, t in zip(*tab.select(["source", "tune"]).to_pydict().values(), strict=True)
    }
    expected = set()
    for source, pieces in good_pieces.items():
        for piece in pieces:
            if len(piece.notes) >= grid.gamma:  # a tune under one bar is dropped and counted
                expected.add((source, piece.tune))
    assert expected and expected <= present
    assert {s for s, _ in present} == set(corpus.good)


def test_every_bad_file_is_rejected_with_its_reason(corpus, clean_run):
    records = rejected_records(clean_run.out)
    found = {(r["path"], r["reason"]) for r in records}
    for source, reason in corpus.bad.items():
        assert (source, str(reason)) in found, source
    for copy, original in corpus.duplicate_of.items():
        [record] = [r for r in records if r["path"] == copy]
        assert record["reason"] == "duplicate" and original in record["detail"]
    assert all(r["detail"] for r in records)
    assert records == sorted(records, key=lambda r: (r["path"], r["reason"], r["detail"]))
    manifest = read_manifest(clean_run.out)
    assert manifest["rejected"] == dict(Counter(r["reason"] for r in records))
    assert manifest["corpus"]["ignored"] == 1  # readme.txt


def test_no_piece_straddles_splits_and_only_train_is_transposed(clean_run):
    split_of_piece, shifts = {}, {}
    for split in SPLITS:
        table = split_table(clean_run.out, split)
        assert table.num_rows, f"{split} is empty: the test corpus needs pieces in every split"
        for piece_id in table.column("piece_id").to_pylist():
            assert split_of_piece.setdefault(piece_id, split) == split
        shifts[split] = set(table.column("transpose").to_pylist())
    assert shifts == {"train": {-2, -1, 0, 1, 2}, "valid": {0}, "test": {0}}


def test_rows_read_back_as_the_representation_arrays(clean_run, good_pieces):
    grid = Grid()
    rows = pa.concat_tables([split_table(clean_run.out, s) for s in SPLITS])
    arrays = table_arrays(rows)
    meta = rows.select(["source", "tune", "piece_id", "transpose", "segment", "abc"]).to_pylist()
    index = {(m["source"], m["tune"], m["transpose"], m["segment"]): i for i, m in enumerate(meta)}
    checked = 0
    for source, pieces in good_pieces.items():
        for piece in pieces:
            shifts = sorted(
                {m["transpose"] for m in meta if (m["source"], m["tune"]) == (source, piece.tune)}
            )
            for shift in shifts:
                shifted, cut, context, positions = expected_segments(piece, shift, grid)
                whole = context_matrix(shifted, grid.steps_per_beat)  # the piece without padding
                for segment, start in enumerate(cut.starts):
                    i = index[(source, piece.tune, shift, segment)]
                    assert meta[i]["piece_id"] == piece.piece_id and meta[i]["abc"] == piece.abc
                    assert np.array_equal(arrays["notes"][i], cut.notes[segment])
                    assert np.array_equal(arrays["context"][i], context[segment])
                    assert np.array_equal(arrays["position"][i], positions[segment])
                    real = whole[start : start + grid.segment_steps]
                    assert np.array_equal(arrays["context"][i][: len(real)], real)
                    checked += 1
    assert checked == rows.num_rows


def test_shards_have_a_fixed_layout_and_sorted_rows(clean_run):
    for split in SPLITS:
        assert [p.name for p in parts(clean_run.out, split)] == [
            "part-00000-of-00002.parquet",
            "part-00001-of-00002.parquet",
        ]
        seen = set()
        for path in parts(clean_run.out, split):
            keys = pq.read_table(path, columns=["piece_id", "transpose", "segment"]).to_pylist()
            order = [(k["piece_id"], k["transpose"], k["segment"]) for k in keys]
            assert order == sorted(order)
            pieces = {k["piece_id"] for k in keys}
            assert not pieces & seen
            seen |= pieces


def test_manifest_counts_what_the_shards_hold(clean_run):
    manifest = read_manifest(clean_run.out)
    grid = manifest_grid(manifest)
    assert grid.same_tensors(Grid()) and manifest["kernel"] == kernel_spec(grid)
    meters = manifest["meter"]["tunes_by_meter"]  # most common first: generation's default
    assert grid.common_meter == next(iter(meters)) and meters[grid.common_meter] == max(
        meters.values()
    )
    onsets = 0
    for split in SPLITS:
        table = split_table(clean_run.out, split)
        counts = manifest["splits"][split]
        assert counts["segments"] == table.num_rows == Dataset.open(clean_run.out).segments(split)
        assert counts["pieces"] == len(set(table.column("piece_id").to_pylist()))
        assert counts["shards"] == 2 and counts["bytes"] == sum(
            p.stat().st_size for p in parts(clean_run.out, split)
        )
        onsets += int(table_arrays(table)["notes"][..., ARTICULATED].sum())
    assert sum(manifest["pitch_histogram"].values()) == onsets
    assert manifest["dropped"]["duplicates"] == 1
    assert manifest["dropped"]["pieces_too_short"] == 1  # the songbook's one-note tune
    # abc2midi's complaints about tunes it converted are warnings about kept tunes, not drops
    assert "abc2midi_errors" not in manifest["dropped"]
    warned = manifest["kept_with_warnings"]
    assert 0 <= warned["tunes_kept_with_abc2midi_errors"] <= manifest["corpus"]["tunes"]
    assert warned["abc2midi_error_lines"] >= warned["tunes_kept_with_abc2midi_errors"]
    assert manifest["options"]["transpose"] == [-2, 2]
    assert clean_run.report.summary.startswith(f"ingest: {manifest['corpus']['files']} files")


def test_two_worker_processes_write_the_same_dataset(corpus, clean_run, tmp_path):
    out = tmp_path / "two"
    ingest(corpus_config(corpus, out, workers=2))
    assert_same_dataset(out, clean_run.out)


def test_a_killed_run_leaves_nothing_complete_and_a_rerun_equals_a_clean_run(
    corpus, clean_run, tmp_path
):
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "mg.cli", "ingest", str(corpus.root), "--out", str(out)]
    command += ["--transpose=-2:2", "--shards", "2", "--workers", "1"]
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # Beam's temp folder of the killed run too
    child = subprocess.Popen(command, env=env, start_new_session=True, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob(".staging-*/spill/**/*.bin")):  # pieces parked, mid-parse
            assert child.poll() is None and time.monotonic() < deadline, "the run ended early"
            time.sleep(0.05)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    assert not (out / "manifest.json").exists() and list(out.glob(".staging-*"))
    # and as if an earlier run had been killed while publishing: a split moved, no manifest
    shutil.copytree(clean_run.out / "train", out / "train")
    ingest(corpus_config(corpus, out))
    assert not list(out.glob(".staging-*"))
    assert_same_dataset(out, clean_run.out)


def test_pipelines_never_import_torch():
    code = (
        "import sys, mg.pipelines.ingest, mg.pipelines.beam_worker, mg.pipelines.guard_child;"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads in Linux's /proc")
def test_a_parse_child_runs_no_blas_thread_pool(corpus, tmp_path, monkeypatch):
    """numpy's OpenBLAS starts a polling thread for every core but one unless told otherwise
    (OMP_NUM_THREADS would tell it: the test removes it); ingest tells the processes it starts.
    A parse child runs its own thread and the one that watches its parent, nothing else."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "GOTO_NUM_THREADS"):
        monkeypatch.setenv(name, "")  # so that undoing the next line removes what ingest sets
        monkeypatch.delenv(name)
    out = tmp_path / "dataset"
    ingest(corpus_config(corpus, out, parser="threads_parser:read_bytes", transpose=(0, 0)))
    seen = Counter(
        value
        for shard in out.rglob("*.parquet")
        for value in pq.read_table(shard, columns=["abc"]).column("abc").to_pylist()
    )
    assert set(seen) == {"2"}, seen
