"""The child side of `guard.GuardedCall`:
`python -m mg.pipelines.guard_child module:function [idle seconds]`.

Reads length-prefixed pickled argument tuples on stdin, answers ("ok", result) or
("error", exception) on the original stdout. The function's own prints, Python or native, go
to stderr, so they cannot corrupt the replies. Exits when stdin closes (its parent is gone),
and, once no call has come for the idle seconds (when given) after its first, says `LEFT` and
exits with `IDLE_EXIT`: the parent, which may live on with nothing left to parse (ingest's
shard writers), starts another child when it needs one.
"""

from __future__ import annotations

import importlib
import os
import pickle
import select
import struct
import sys
import threading
import time

HEADER = struct.Struct(">Q")  # each message: its length, then the pickle
READY = b"mg-guard-ready\n"  # sent once the function is imported
IDLE_EXIT = 75  # the exit status of a child that left for want of calls (EX_TEMPFAIL)
LEFT = HEADER.pack(0)  # its last words: it read no call since its last reply (never a reply)


def main(target: str, idle_s: float | None = None) -> None:
    _die_with_parent()
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything the parser prints, even from C, lands on stderr
    sys.stdout = sys.stderr
    module_name, _, function_name = target.partition(":")
    function = getattr(importlib.import_module(module_name), function_name)
    requests = sys.stdin.buffer
    replies.write(READY)
    replies.flush()
    answered = False  # the first call comes at once: a child is started to be sent one
    while True:
        # Calls come one at a time, each read whole before its reply: nothing waits in the
        # reader's buffer here, so the descriptor says whether a call has come.
        if idle_s and answered and not select.select([requests.fileno()], [], [], idle_s)[0]:
            replies.write(LEFT)  # a call written from now on is not read: the parent resends it
            replies.flush()
            os._exit(IDLE_EXIT)  # at once: no shutdown for a late call to wait behind
        answered = True
        header = requests.read(HEADER.size)
        if len(header) < HEADER.size:
            return
        args = pickle.loads(requests.read(HEADER.unpack(header)[0]))
        try:
            reply = ("ok", function(*args))
        except Exception as exc:  # sent back and raised again in the parent
            reply = ("error", _picklable(exc))
        data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        replies.write(HEADER.pack(len(data)) + data)
        replies.flush()


def _picklable(exc: Exception) -> Exception:
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _die_with_parent() -> None:
    """Exit when the parent is gone, even while the parse is busy (stdin EOF covers idle)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else None)
