"""Ingest against hostile and careless input (issue 18): special files and oversized files in the
corpus, names that are not UTF-8, a user's folder as `--out`, a second ingest into the same
folder, a killed driver, a full disk and a pipeline that cannot start. Nothing hangs, nothing of
the user's is deleted, memory stays bounded, and each failure is one line."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from contextlib import contextmanager, suppress
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mg.data.corpus import music21_corpus_dir
from mg.pipelines.ingest import ingest
from mg.pipelines.options import IngestConfig, IngestError

RYANS = music21_corpus_dir() / "ryansMammoth"
TUNES = ["RockyRoadToDublinJig.abc", "DeerFootHornpipe.abc", "HarlequinHornpipe.abc"]
HERE = Path(__file__).resolve().parent


def config(inputs, out, **changes) -> IngestConfig:
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    settings = {"transpose": (0, 0), "shards": 1, "workers": 1, **changes}
    return IngestConfig(inputs=tuple(str(i) for i in inputs), out=str(out), **settings)


def good_corpus(root: Path, names=TUNES[:2]) -> Path:
    root.mkdir(parents=True)
    for name in names:
        shutil.copyfile(RYANS / name, root / name)
    return root


def rejected(out: Path) -> dict[str, dict]:
    lines = (out / "rejected" / "rejected.jsonl").read_text().splitlines()
    return {record["path"]: record for record in map(json.loads, lines)}


def sources(out: Path) -> set[str]:
    return {s for p in out.glob("*/part-*.parquet") for s in pq.read_table(p)["source"].to_pylist()}


@contextmanager
def deadline(seconds: int):
    """Fail instead of hanging the suite (what a FIFO did to ingest)."""

    def expired(*_):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def peak_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def special_files(folder: Path) -> dict[str, str]:
    """FIFOs, devices, a socket and sparse giants under music suffixes -> their reason."""
    os.mkfifo(folder / "pipe.mid")
    os.mkfifo(folder / "tunes.abc")
    for name, device in [("zero.abc", "zero"), ("null.mid", "null"), ("rand.midi", "urandom")]:
        (folder / name).symlink_to(f"/dev/{device}")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(folder / "sock.mid"))
    listener.close()
    for name, size in [("big.mid", 1 << 30), ("huge.abc", 70 << 20), ("score.mxl", 65 << 20)]:
        with open(folder / name, "wb") as handle:
            handle.truncate(size)  # sparse: 1 GB that takes no disk
    special = ["pipe.mid", "tunes.abc", "zero.abc", "null.mid", "rand.midi", "sock.mid"]
    return {
        **{f"bad/{n}": "not_a_file" for n in special},
        **{f"bad/{n}": "too_large" for n in ("big.mid", "huge.abc", "score.mxl")},
    }


def test_special_and_oversized_files_are_rejected_unread_and_memory_stays_bounded(tmp_path):
    root = good_corpus(tmp_path / "in" / "good")
    (tmp_path / "in" / "bad").mkdir()
    expected = special_files(tmp_path / "in" / "bad")
    before = peak_mb()
    with deadline(240):
        report = ingest(config(tmp_path / "in", tmp_path / "out"))
    found = rejected(tmp_path / "out")
    assert {path: found[path]["reason"] for path in expected} == expected
    assert "a FIFO" in found["bad/pipe.mid"]["detail"]
    assert "character device" in found["bad/zero.abc"]["detail"]
    assert "1,073,741,824 bytes" in found["bad/big.mid"]["detail"]
    assert sources(tmp_path / "out") == {f"good/{n}" for n in TUNES[:2]}
    assert report.manifest["rejected"]["not_a_file"] == 6
    assert peak_mb() - before < 400  # not the 1 GB, 3 GB or 4 GB of the files' claims
    assert peak_mb(resource.RUSAGE_CHILDREN) < 1500
    assert root.is_dir()


def test_a_special_file_named_as_input_is_rejected_not_waited_on(tmp_path):
    folder = good_corpus(tmp_path / "in")
    os.mkfifo(tmp_path / "named.abc")
    with deadline(180):
        ingest(config((folder, tmp_path / "named.abc"), tmp_path / "out"))
    assert rejected(tmp_path / "out")["named.abc"]["reason"] == "not_a_file"


@pytest.mark.parametrize(("cap_mb", "kept"), [(1, False), (4, True)])
def test_the_size_cap_is_an_option(tmp_path, cap_mb, kept):
    folder = good_corpus(tmp_path / "in", TUNES[:1])
    padded = "% padding\n" * 200_000 + "\n" + (RYANS / TUNES[2]).read_text()  # about 2 MB
    (folder / "padded.abc").write_text(padded)
    ingest(config(folder, tmp_path / "out", max_file_bytes=cap_mb << 20))
    assert ("padded.abc" in sources(tmp_path / "out")) == kept
    if not kept:
        assert rejected(tmp_path / "out")["padded.abc"]["reason"] == "too_large"


def test_names_that_are_not_utf8_are_ingested_and_shown_escaped(tmp_path):
    folder = good_corpus(tmp_path / "in", TUNES[:1])
    raw = os.fsencode(folder)
    for name, tune in [(b"caf\xe9.abc", TUNES[1]), (b"\xff\xfe-x.abc", TUNES[2])]:
        with open(raw + b"/" + name, "wb") as handle:
            handle.write((RYANS / tune).read_bytes())
    with open(raw + b"/\xe9mpty.mid", "wb"):
        pass
    ingest(config(folder, tmp_path / "out"))
    assert sources(tmp_path / "out") == {TUNES[0], "caf\\xe9.abc", "\\xff\\xfe-x.abc"}
    assert rejected(tmp_path / "out")["\\xe9mpty.mid"]["reason"] == "empty"


@pytest.mark.parametrize(
    "contents",
    [
        {".git/config": "[core]\n", "test/test_important.py": "def test(): pass\n"},
        {"train/notes.txt": "mine\n"},
        {"rejected": "a file of mine\n"},
        {"valid/a.parquet": "not ours\n", ".hidden": "x\n"},
        {".staging-abc/x": "looks like ours, is not\n", "test/keep.txt": "mine\n"},
    ],
)
def test_a_users_folder_with_split_names_is_refused_and_left_untouched(tmp_path, contents):
    folder = good_corpus(tmp_path / "in", TUNES[:1])
    out = tmp_path / "out"
    for name, text in contents.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
    before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    with pytest.raises(IngestError, match="not an mg dataset"):
        ingest(config(folder, out))
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == before
    assert all((out / name).read_text() == text for name, text in contents.items())


def ingest_process(corpus: Path, out: Path, workers: int, slow_s: float) -> subprocess.Popen:
    """A real ingest driver in its own process group, parsing slowly (tests/slow_parser.py)."""
    code = textwrap.dedent(f"""
        from mg.pipelines.ingest import ingest
        from mg.pipelines.options import IngestConfig
        ingest(IngestConfig(inputs=({str(corpus)!r},), out={str(out)!r}, transpose=(0, 0),
                            shards=1, workers={workers}, parser="slow_parser:read_bytes"))
    """)
    env = {**os.environ, "MG_SLOW_PARSE_S": str(slow_s), "OMP_NUM_THREADS": "1"}
    env["TMPDIR"] = str(out.parent)  # what a killed run leaves in its temp folder stays there
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    return subprocess.Popen(
        [sys.executable, "-c", code], env=env, start_new_session=True, stderr=subprocess.PIPE
    )


def wait_for(condition, child: subprocess.Popen, seconds: float = 120) -> None:
    end = time.monotonic() + seconds
    while not condition():
        assert child.poll() is None, child.stderr.read().decode()[-2000:]
        assert time.monotonic() < end, "timed out waiting"
        time.sleep(0.1)


def test_a_second_ingest_into_the_same_folder_is_refused_while_the_first_finishes(tmp_path):
    folder = good_corpus(tmp_path / "in")
    out = tmp_path / "out"
    first = ingest_process(folder, out, workers=1, slow_s=4)
    try:
        wait_for(lambda: list(out.glob(".staging-*/listing.jsonl")), first)
        with pytest.raises(IngestError) as caught:
            ingest(config(folder, out))
        assert f"another mg ingest (pid {first.pid})" in str(caught.value)
        assert first.wait(timeout=300) == 0, first.stderr.read().decode()[-2000:]
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    assert (out / "manifest.json").is_file() and not list(out.glob(".staging-*"))
    ingest(config(folder, out))  # the lock went with the first run


def descendants(pid: int) -> set[int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_workers_and_parsers_do_not_outlive_a_killed_driver(tmp_path):
    folder = good_corpus(tmp_path / "in", TUNES)
    driver = ingest_process(folder, tmp_path / "out", workers=2, slow_s=600)
    try:
        # killed while Beam's workers (started through sh -c) start up or wait for work: the
        # case that left them running for minutes (killed mid-parse, gRPC noticed sooner)
        def workers_up() -> bool:
            commands = [_cmdline(p) for p in descendants(driver.pid)]
            return sum(c.startswith(sys.executable) and "beam_worker" in c for c in commands) == 2

        wait_for(workers_up, driver, seconds=180)
        time.sleep(1.0)
        spawned = descendants(driver.pid)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        end = time.monotonic() + 15
        while any(alive(p) for p in spawned) and time.monotonic() < end:
            time.sleep(0.2)
        left = [_cmdline(p) for p in spawned if alive(p)]
        assert not left, f"outlived the driver: {left}"
    finally:
        for pid in descendants(driver.pid) | {driver.pid}:
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_a_pipeline_that_cannot_start_is_one_line(tmp_path):
    folder = good_corpus(tmp_path / "in", TUNES[:1])
    with pytest.raises(IngestError) as caught:
        ingest(config(folder, tmp_path / "out", parser="no_such_module:read_bytes"))
    message = str(caught.value)
    assert "\n" not in message and "could not start" in message and "(in " in message
    assert not (tmp_path / "out").exists()  # the folder it created is gone again


@pytest.fixture(params=["16k", "32k"])
def small_disk(tmp_path, request):
    """A small tmpfs (root only): ingest runs out of space part way, at 16 KB while parking
    the parsed pieces, at 32 KB while writing the shards (the dataset of TUNES at ±3 is 48 KB;
    the parked pieces alone fit)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={request.param}", "tmpfs", str(mount)]
    )
    if made.returncode != 0:
        pytest.skip("this machine does not allow mounting a tmpfs")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_one_line_and_leaves_no_staging(tmp_path, small_disk):
    folder = good_corpus(tmp_path / "in", TUNES)
    out = small_disk / "out"
    with pytest.raises((IngestError, OSError)) as caught:
        ingest(config(folder, out, transpose=(-3, 3)))
    message = str(caught.value)
    assert "No space left on device" in message and "\n" not in message
    assert not list(out.glob(".staging-*")) if out.exists() else True
