"""A parser for the crash-guard tests: the real reader, except that it aborts the process (a
native crash, SIGABRT) on a file holding MG-CRASH. Imported by the guard's child process."""

from __future__ import annotations

import os

from mg.representation import read_bytes as real_read_bytes

CRASH_MARKER = b"MG-CRASH"


def read_bytes(data: bytes, source: str, grid):
    if CRASH_MARKER in data:
        os.abort()
    return real_read_bytes(data, source, grid)
