"""A failed Beam pipeline as one line: the error at the bottom of Beam's wrapped tracebacks.

A worker's exception reaches the driver as a `RuntimeError` whose message holds the whole
remote traceback (100+ lines); the user needs its last error line and the step it ran in.
"""

from __future__ import annotations

import re

_ERROR_LINE = re.compile(r"^\s*((?:[\w.]+\.)?\w*(?:Error|Exception|Exit)\w*): (.+)$")
_STEP = re.compile(r"\[while running '([^']+)'\]")


def failure_line(exc: BaseException) -> str:
    """'OSError: [Errno 28] No space left on device (in WriteShards/Write)' from Beam's text."""
    text = str(exc)
    found = [m for line in text.splitlines() if (m := _ERROR_LINE.match(line))]
    if found:
        name, message = found[-1].group(1).rsplit(".", 1)[-1], found[-1].group(2)
    else:
        name, message = type(exc).__name__, (text.strip().splitlines() or [""])[-1]
    message = _STEP.sub("", message).strip()
    steps = _STEP.findall(text)
    return f"{name}: {message}" + (f" (in {steps[-1]})" if steps else "")
