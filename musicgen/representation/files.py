"""Reading a file that may be hostile: only regular files, never more than a cap, names bytes-safe.

A FIFO named `pipe.mid` blocks `open()` forever, a link to `/dev/zero` never ends, and a sparse
1 GB `.mid` takes 4 KB of disk and 1 GB of memory. So the size is checked on the inode before
anything is read, the file is opened non-blocking (a FIFO swapped in after the check cannot
block) and checked again on the open descriptor, and at most `max_bytes` + 1 bytes are read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from mg.errors import CorpusError, Reason

MAX_FILE_BYTES = 64 << 20  # the default cap: the largest real MIDI/ABC/MusicXML file is far below


def read_regular_file(path: str | Path, max_bytes: int = MAX_FILE_BYTES, name: str = "") -> bytes:
    """The bytes of `path`; CorpusError (not_a_file, too_large, unreadable) otherwise.

    `name` is how errors name the file (default: the path, printable whatever its bytes).
    """
    shown = name or printable(os.fspath(path))
    try:
        check_size(os.stat(path), max_bytes, shown)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        detail = "dangling symlink" if os.path.islink(path) else "no such file"
        raise CorpusError(shown, Reason.UNREADABLE, f"cannot read file: {detail}") from None
    except OSError as exc:
        raise CorpusError(shown, Reason.UNREADABLE, f"cannot read file: {_why(exc)}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        check_size(info, max_bytes, shown)
        try:
            data = read_at_most(handle, max_bytes + 1, info.st_size + 1)
        except OSError as exc:
            raise CorpusError(shown, Reason.UNREADABLE, f"cannot read file: {_why(exc)}") from None
    if len(data) > max_bytes:  # a file that grew after the check
        raise CorpusError(shown, Reason.TOO_LARGE, too_large(len(data), max_bytes))
    return data


def read_at_most(handle, limit: int, expected: int) -> bytes:
    """Up to `limit` bytes, asking first for the `expected` size: `read(limit)` would allocate
    the whole cap (64 MB) for every file, however small."""
    chunks, total, want = [], 0, min(expected, limit)
    while total < limit:
        asked = min(want, limit - total)
        chunk = handle.read(asked)
        chunks.append(chunk)
        total += len(chunk)
        if len(chunk) < asked:  # end of file (a regular file reads short only there)
            break
        want = 1 << 20  # the file grew after its size was read
    return b"".join(chunks)


def check_size(info: os.stat_result, max_bytes: int, name: str) -> None:
    """Refuse what is not a regular file, or is larger than `max_bytes`."""
    if not stat.S_ISREG(info.st_mode):
        raise CorpusError(name, Reason.NOT_A_FILE, f"not a regular file ({_kind(info.st_mode)})")
    if info.st_size > max_bytes:
        raise CorpusError(name, Reason.TOO_LARGE, too_large(info.st_size, max_bytes))


def too_large(size: int, max_bytes: int) -> str:
    return f"file of {size:,} bytes is over the cap of {max_bytes:,} (--max-file-size)"


def printable(path: str) -> str:
    """A path as valid UTF-8 text: bytes that are not UTF-8 (os.fsdecode's surrogates) as \\xNN."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _kind(mode: int) -> str:
    kinds = {
        stat.S_ISDIR: "a folder",
        stat.S_ISFIFO: "a FIFO",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
    }
    return next((name for test, name in kinds.items() if test(mode)), "a special file")


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)
