"""An exclusive lock file that names its owner: the kernel drops it when the process dies, even
on kill -9, so a killed run never leaves a stale lock behind."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def pid_lock(path: str | Path, busy: Callable[[str], Exception]) -> Iterator[None]:
    """Hold an exclusive flock on `path` for the block, with this process's pid written in it;
    when another live process holds it, raise `busy(its pid)`."""
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise busy(handle.read().strip() or "?") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield  # the lock goes with the file handle
