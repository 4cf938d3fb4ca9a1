"""Progress of a local run: workers write small count files, the driver sums and shows them.

Beam's local runner blocks in `run()` and reports metrics only at the end, so each worker keeps
its own counts in `<staging>/progress/<pid>-<n>.json` (rewritten at most twice a second), and a
thread of the driver draws one line on stderr from their sum. Off unless asked for (terminal).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter
from itertools import count
from pathlib import Path

_IDS = count()


class ProgressFile:
    """Counts of one DoFn instance, flushed to its own file; a no-op without a folder."""

    def __init__(self, folder: str | None) -> None:
        self.folder = folder
        self.counts: Counter = Counter()
        self._path = None if folder is None else Path(folder) / f"{os.getpid()}-{next(_IDS)}.json"
        self._flushed = 0.0

    def add(self, name: str, value: int = 1) -> None:
        if self._path is None:
            return
        self.counts[name] += value
        if time.monotonic() - self._flushed > 0.5:
            self.flush()

    def flush(self) -> None:
        if self._path is None or not self.counts:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.counts))
        tmp.replace(self._path)
        self._flushed = time.monotonic()


def total(folder: str) -> Counter:
    summed: Counter = Counter()
    for path in Path(folder).glob("*.json"):
        try:
            summed.update(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue  # being replaced right now
    return summed


class ProgressLine:
    """A thread that redraws `files read x/N, segments written, rejected` until stopped."""

    def __init__(self, folder: str, files: int, stream=sys.stderr) -> None:
        self.folder, self.files, self.stream = folder, files, stream
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> ProgressLine:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.stream.write("\r\033[K")
        self.stream.flush()

    def _loop(self) -> None:
        start = time.monotonic()
        while not self._stop.wait(0.5):
            counts = total(self.folder)
            self.stream.write(
                f"\r\033[Kingest: files read {counts['files']}/{self.files}, "
                f"rejected {counts['rejected']}, segments written {counts['segments']} "
                f"({time.monotonic() - start:.0f} s)"
            )
            self.stream.flush()
