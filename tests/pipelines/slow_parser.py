"""A parser for the lock and orphan tests: the real reader, after MG_SLOW_PARSE_S seconds
per file, so that a run is still going when a second process looks at it."""

from __future__ import annotations

import os
import time

from mg.representation import read_bytes as real_read_bytes


def read_bytes(data: bytes, source: str, grid):
    time.sleep(float(os.environ.get("MG_SLOW_PARSE_S", "2")))
    return real_read_bytes(data, source, grid)
