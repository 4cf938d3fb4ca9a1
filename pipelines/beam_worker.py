"""The local worker process: Beam's SDK harness, with its start-up chatter kept off the terminal.

Beam's harness logs a dozen INFO lines per worker on stderr (and warns about optional Google
Cloud clients at import); with several workers that drowns the progress line. Records reach
stderr here from ERROR up; the runner still receives every record over the Fn API logging
channel.
"""

from __future__ import annotations

import logging
import sys


def main() -> None:
    handler = logging.StreamHandler()
    handler.setLevel(logging.ERROR)
    logging.getLogger().addHandler(handler)  # also stops logging.warning() calling basicConfig
    from apache_beam.runners.worker import sdk_worker_main

    sdk_worker_main.main(sys.argv)


if __name__ == "__main__":
    main()
