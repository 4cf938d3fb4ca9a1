"""The local worker process: Beam's SDK harness, with its start-up chatter kept off the terminal.

It exits when the driver dies (Beam would keep it minutes, waiting on gRPC). Beam's harness
logs a dozen INFO lines per worker on stderr (and warns about optional Google
Cloud clients at import); with several workers that drowns the progress line. Records reach
stderr here from ERROR up; the runner still receives every record over the Fn API logging
channel.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

DRIVER_ENV = "MG_INGEST_DRIVER_PID"


def main() -> None:
    _die_with_driver()
    handler = logging.StreamHandler()
    handler.setLevel(logging.ERROR)
    logging.getLogger().addHandler(handler)  # also stops logging.warning() calling basicConfig
    from apache_beam.runners.worker import sdk_worker_main

    sdk_worker_main.main(sys.argv)


def _die_with_driver() -> None:
    """Exit within a second of the ingest driver's death (kill -9 included), instead of
    waiting minutes for gRPC to notice. Beam starts the worker through `sh -c`, so the driver
    names itself in DRIVER_ENV rather than being this process's parent."""
    driver = int(os.environ.get(DRIVER_ENV) or os.getppid())

    def watch() -> None:
        while _alive(driver):
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="mg-die-with-driver").start()


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (a killed driver's zombie waits for its reaper)."""
    if not os.path.isdir("/proc"):  # no procfs (macOS): existence is all we can ask
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


if __name__ == "__main__":
    main()
