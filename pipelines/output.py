"""The output folder: refuse what is not ours, stage the run, move it into place, manifest last.

A run writes everything into `OUT/.staging-<run id>/`. Only when the pipeline has finished does
`publish` remove the previous dataset's manifest, replace its folders by the new ones and move
the new `manifest.json` in last; a run killed at any moment leaves no manifest (nothing that
looks complete), and the next run clears the leftovers. Works through Beam's FileSystems, so
`--out gs://…` behaves like a local folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from mg.data.schema import MANIFEST, SPLITS, arrow_schema
from mg.locks import pid_lock
from mg.pipelines.options import IngestError
from mg.representation.grid import Grid

DATASET_NAMES = (*SPLITS, "rejected", MANIFEST)
STAGING_PREFIX = ".staging-"
MARKER = ".mg-dataset"  # written when a run claims the folder, before anything else
LOCK = ".mg-lock"  # flock-ed by the run writing the folder; holds its pid


def join(*parts: str) -> str:
    return FileSystems.join(*parts)


def check_out(out: str) -> set[str]:
    """Refuse a folder that holds anything and is not an mg dataset: one whose manifest (or
    the marker a run leaves until its manifest is in) says mg wrote it. Names alone prove
    nothing: a `test/` folder beside `.git/` is a user's, not a split. Returns its entries."""
    entries = top_entries(out)
    visible = sorted(e for e in entries if not e.startswith("."))
    ours = MANIFEST in entries or MARKER in entries
    foreign = [e for e in visible if e not in DATASET_NAMES] or ([] if ours else visible)
    if foreign:
        raise IngestError(
            f"{out}: not empty and not an mg dataset (holds {', '.join(foreign[:3])}); "
            "choose a new or empty folder (mg replaces only datasets it wrote)"
        )
    return entries


@contextmanager
def out_lock(out: str) -> Iterator[None]:
    """Hold `OUT/.mg-lock` (an exclusive flock, released by the kernel even on kill -9) for the
    whole run: a second ingest into the same folder is refused instead of deleting the first
    one's staging. Object storage has no locks: there one run per prefix is the user's care."""
    if "://" in out:
        yield
        return
    os.makedirs(out, exist_ok=True)
    busy = lambda owner: IngestError(  # noqa: E731
        f"{out}: another mg ingest (pid {owner}) is writing this folder; "
        "wait for it to finish or choose another --out"
    )
    with pid_lock(os.path.join(out, LOCK), busy):
        yield


def prepare_out(out: str, listing_hash: str, overwrite: bool) -> None:
    """Refuse a folder that is not an mg dataset, or one of another corpus (unless overwrite);
    clear a killed run's staging and mark the folder as ours. Call under `out_lock`."""
    entries = check_out(out)
    if MANIFEST in entries and not overwrite:
        old = read_json(join(out, MANIFEST))
        if old.get("corpus", {}).get("listing") != listing_hash:
            raise IngestError(
                f"{out} holds a dataset of another corpus "
                f"({old.get('corpus', {}).get('files', '?')} files); "
                "pass --overwrite to replace it"
            )
    for entry in entries:
        if entry.startswith(STAGING_PREFIX):  # left by a killed run
            delete_tree(join(out, entry))
    if MARKER not in entries:
        mkdirs(out)
        with FileSystems.create(join(out, MARKER)) as handle:
            handle.write(b"an mg dataset folder: mg ingest may replace what it holds\n")


def remove_claim(out: str) -> None:
    """Undo `out_lock` and `prepare_out` in a folder this run created and left empty."""
    if "://" in out:
        return
    for name in (MARKER, LOCK):
        delete_if_exists(join(out, name))
    if not top_entries(out):
        os.rmdir(out)


def check_same_corpus(out: str, checksum: str, overwrite: bool) -> None:
    """The late check: same file names, but is it the same content?"""
    path = join(out, MANIFEST)
    if overwrite or not FileSystems.exists(path):
        return
    old = read_json(path).get("corpus", {}).get("checksum")
    if old != checksum:
        raise IngestError(
            f"{out} holds a dataset of another corpus (same file names, other content: "
            f"checksum {old} vs {checksum}); pass --overwrite to replace it"
        )


def fill_empty_shards(staging: str, grid: Grid, shards: int | None) -> None:
    """A split without rows still gets its part files, so every split has a fixed layout."""
    for split in SPLITS:
        names = [os.path.basename(p) for p in files_under(join(staging, split))]
        total = int(names[0].rsplit("-of-", 1)[1].split(".")[0]) if names else (shards or 1)
        for index in range(total):
            path = join(staging, split, f"part-{index:05d}-of-{total:05d}.parquet")
            if not FileSystems.exists(path):
                with FileSystems.create(path) as stream:
                    pq.write_table(arrow_schema(grid).empty_table(), stream, compression="zstd")


def shard_rows(staging: str) -> dict[str, tuple[int, int]]:
    """Every part file under `staging`: (rows, bytes), rows from its Parquet footer."""
    found = {}
    for path, size in files_under(staging).items():
        if path.endswith(".parquet") and os.path.basename(os.path.dirname(path)) in SPLITS:
            with FileSystems.open(path, compression_type="uncompressed") as handle:
                found[path] = (pq.read_metadata(handle).num_rows, size)
    return found


def publish(staging: str, out: str) -> None:
    """Swap the staged dataset into `out`; the manifest goes first out and last in."""
    delete_if_exists(join(out, MANIFEST))
    for name in (*SPLITS, "rejected"):
        delete_if_exists(join(out, name))
    sources = [p for p in files_under(staging) if os.path.basename(p) != MANIFEST]
    targets = [join(out, _relative(p, staging)) for p in sources]
    for folder in sorted({t.rsplit("/", 1)[0] for t in targets}):
        mkdirs(folder)
    FileSystems.rename(sources, targets)
    FileSystems.rename([join(staging, MANIFEST)], [join(out, MANIFEST)])
    delete_tree(staging)


def top_entries(folder: str) -> set[str]:
    if "://" not in folder:
        return set(os.listdir(folder)) if os.path.isdir(folder) else set()
    return {_relative(p, folder).split("/", 1)[0] for p in files_under(folder)}


def files_under(folder: str) -> dict[str, int]:
    """Every file below `folder` with its size in bytes."""
    if "://" in folder:
        match = FileSystems.match([folder.rstrip("/") + "/**"])[0]
        return {m.path: m.size_in_bytes for m in match.metadata_list}
    found = {}
    for top, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(top, name)
            found[path] = os.path.getsize(path)
    return dict(sorted(found.items()))


def read_json(path: str) -> dict:
    with FileSystems.open(path, compression_type="uncompressed") as handle:
        return json.loads(handle.read().decode("utf-8"))


def write_json(path: str, value: dict) -> None:
    with FileSystems.create(path) as handle:
        handle.write((json.dumps(value, indent=2, sort_keys=False) + "\n").encode("utf-8"))


def mkdirs(folder: str) -> None:
    if "://" not in folder:
        os.makedirs(folder, exist_ok=True)
    # object stores have no folders to create


def delete_tree(folder: str) -> None:
    if "://" not in folder:
        if os.path.lexists(folder):
            FileSystems.delete([folder])
        return
    files = list(files_under(folder))
    if files:
        FileSystems.delete(files)


def delete_if_exists(path: str) -> None:
    """Delete a file or a folder (on object storage: the object and everything below it)."""
    if "://" in path:
        if FileSystems.exists(path):
            FileSystems.delete([path])
        delete_tree(path)
    elif os.path.isdir(path) and not os.path.islink(path):
        delete_tree(path)
    elif os.path.lexists(path):
        os.remove(path)


def _relative(path: str, folder: str) -> str:
    return path[len(folder.rstrip("/")) + 1 :]
