"""Run a function in a child process so that a native crash or a hang costs one input, not the run.

`GuardedCall("module:function")` keeps one child (`python -m mg.pipelines.guard_child`) and
sends it each call's arguments as a length-prefixed pickle over a pipe. An exception the function
raises comes back and is raised again here; a child that dies (a segfault in a C parser, an
abort) or outlives `timeout_s` raises `GuardError` and is replaced by a fresh one for the next
call. A child left without calls for `idle_s` exits by itself (ingest's parse child held ~47 MB
through the shard writes, a worker's tenth), saying so first (`guard_child.LEFT`); the next
call starts another, and a call that met a child on its way out, which it answered with those
words, is sent again to the new one (the old one read none of it). `submit` and `collect`
keep calls in flight (the child works while the caller does), answered in order.
Generic over the function, so it is tested with real crashing callables.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import select
import signal
import subprocess
import sys
import time
from collections import deque
from typing import Any

from mg.pipelines.guard_child import HEADER as _HEADER
from mg.pipelines.guard_child import LEFT, READY

STARTUP_TIMEOUT_S = 120.0
IDLE_S = 2.0  # a child without calls this long exits (a parse stage calls it every ms or so)
EXIT_WAIT_S = 10.0  # a child that closed its output and lives on this long is killed
_LEFT = object()  # `_read_reply`'s answer when the child left idle


class GuardError(Exception):
    """The child died or timed out; `kind` is 'crash' or 'timeout'."""

    def __init__(self, kind: str, detail: str) -> None:
        self.kind = kind
        self.detail = detail
        super().__init__(detail)

    def __reduce__(self):
        return (type(self), (self.kind, self.detail))


class GuardStartError(RuntimeError):
    """The child could not even import the function: a setup error, not a bad input."""


class GuardedCall:
    """A callable proxy for `target` ("module:function") that runs it in a child process."""

    def __init__(
        self, target: str, timeout_s: float = 300.0, idle_s: float | None = IDLE_S
    ) -> None:
        if idle_s is not None and not idle_s > 0:
            raise ValueError(f"idle_s must be a positive number of seconds or None, not {idle_s}")
        self.target = target
        self.timeout_s = timeout_s
        self.idle_s = idle_s  # None: the child waits for calls as long as this object lives
        self._child: subprocess.Popen | None = None
        self._queue: deque[bytes] = deque()  # the calls sent and not yet answered, in order
        self._queued = 0  # their bytes: what the child may not have read of its pipe yet
        self._room = PIPE_MIN // 2  # what may wait in its pipe (half the pipe: `_start`)

    def __call__(self, *args: Any) -> Any:
        """Run the function on `args` in the child; its result, or its exception raised here
        (`GuardError` when the child crashed or timed out)."""
        if self._queue:
            raise RuntimeError("calls are in flight: collect them first")
        self.submit(*args)
        return self.collect()

    def submit(self, *args: Any) -> bool:
        """Send a call and return at once; `collect` gives the answers, in the order sent. The
        child parses while the caller does the rest of its work: neither waits for the other
        (each call's round trip woke a sleeping process on each side, and on a shared host a
        process that sleeps wakes on cold caches: ingest's parse cost 2x its CPU that way).
        False, sending nothing, when calls are in flight and this one would not fit in the
        pipe beside them (writing it could then wait on a child that waits on its reply being
        read): collect those first."""
        data = pickle.dumps(args, protocol=pickle.HIGHEST_PROTOCOL)
        message = _HEADER.pack(len(data)) + data
        if self._queue and self._queued + len(message) > self._room:
            return False
        # with calls in flight the child is not polled: a reply waiting in its pipe is read
        # first, even from a child that has left since (`collect`)
        child = self._child if self._queue else self._ensure_child()
        self._queue.append(message)
        self._queued += len(message)
        self._write(child, message)
        return True

    def collect(self) -> Any:
        """The answer to the oldest call in flight (`submit`): its result, or its exception."""
        if not self._queue:
            raise RuntimeError("no call in flight")
        for _ in range(3):  # a fresh child waits for its first call: it cannot leave before
            child = self._child
            try:
                reply = self._read_reply(child)
            except GuardError:  # this call timed out
                self._answered()
                self._stop()
                self._resend()
                raise
            except (EOFError, OSError):  # the child died on this call
                self._answered()
                error = self._died()
                self._resend()
                raise error from None
            if reply is not _LEFT:
                break
            self._stop()  # it left idle and read none of the calls in flight: sent again
            self._resend()
        else:
            self._answered()
            self._resend()
            raise GuardError("crash", "parser process left three times before reading a call")
        self._answered()
        status, value = reply
        if status == "error":
            raise value
        return value

    def _answered(self) -> None:
        self._queued -= len(self._queue.popleft())

    def _resend(self) -> None:
        """The calls in flight to a new child (the old one answered none of them)."""
        if self._queue:
            child = self._ensure_child()
            for message in self._queue:
                self._write(child, message)

    def _write(self, child: subprocess.Popen, message: bytes) -> None:
        # a child gone or going: what it wrote last says which (`collect`: its answers, its
        # last words, or nothing, a crash); one that lives on without the call times out
        with contextlib.suppress(OSError):
            _write_all(child.stdin.fileno(), message)

    @property
    def pid(self) -> int | None:
        """The child's process id (None until the first call starts one)."""
        return self._child.pid if self._child is not None else None

    def close(self) -> None:
        """Stop the child (it also exits by itself when this process goes away); calls in
        flight are dropped."""
        self._stop()
        self._queue.clear()
        self._queued = 0

    def _stop(self) -> None:
        child, self._child = self._child, None
        if child is None:
            return
        if child.poll() is None:
            child.kill()
        child.wait()
        for stream in (child.stdin, child.stdout):
            with contextlib.suppress(OSError):  # a write the child never read: nothing to keep
                stream.close()

    def __enter__(self) -> GuardedCall:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ensure_child(self) -> subprocess.Popen:
        if self._child is None or self._child.poll() is not None:
            self._stop()
            self._child = self._start()
        return self._child

    def _start(self) -> subprocess.Popen:
        """A fresh child, once it has imported the target (import time is not parse time)."""
        idle = [] if self.idle_s is None else [repr(float(self.idle_s))]
        child = subprocess.Popen(
            [sys.executable, "-m", "mg.pipelines.guard_child", self.target, *idle],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for stream in (child.stdin, child.stdout):
            _widen(stream)
        self._room = _pipe_size(child.stdin) // 2
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        try:
            ready = _read_exactly(child.stdout, len(READY), deadline, STARTUP_TIMEOUT_S)
        except (GuardError, EOFError):
            ready = b""
        if ready != READY:
            child.kill()
            child.wait()
            raise GuardStartError(
                f"{self.target}: the guarded function could not start (see stderr)"
            )
        return child

    def _read_reply(self, child: subprocess.Popen) -> tuple[str, Any] | object:
        """("ok", result) or ("error", exception); `_LEFT` when the child left idle."""
        deadline = time.monotonic() + self.timeout_s
        header = _read_exactly(child.stdout, _HEADER.size, deadline, self.timeout_s)
        if header == LEFT:
            return _LEFT
        (size,) = _HEADER.unpack(header)
        return pickle.loads(_read_exactly(child.stdout, size, deadline, self.timeout_s))

    def _died(self) -> GuardError:
        child = self._child
        code = None
        if child is not None:  # its output is closed: it is exiting, or it is made to
            try:
                code = child.wait(timeout=EXIT_WAIT_S)
            except subprocess.TimeoutExpired:
                child.kill()
                code = child.wait()
        self._stop()
        if code is not None and code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
            return GuardError("crash", f"parser crashed (signal {name})")
        return GuardError("crash", f"parser process exited with code {code}")


PIPE_BYTES = 1 << 20  # a reply (~5 KB a piece packed; an ABC book's hundreds) in few reads
PIPE_MIN = 1 << 16  # Linux's default pipe


def _widen(stream) -> None:
    """Make the pipe hold PIPE_BYTES where the system allows (Linux): a reply larger than the
    default 64 KB otherwise takes a wake-up of each side per 64 KB."""
    if hasattr(fcntl, "F_SETPIPE_SZ"):  # Linux; elsewhere the default pipe works as well
        with contextlib.suppress(OSError):  # a lower limit (pipe-max-size): the default stays
            fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def _pipe_size(stream) -> int:
    """The bytes a pipe holds (Linux says; elsewhere the least POSIX systems give)."""
    if hasattr(fcntl, "F_GETPIPE_SZ"):
        with contextlib.suppress(OSError):
            return fcntl.fcntl(stream.fileno(), fcntl.F_GETPIPE_SZ)
    return PIPE_MIN


def _write_all(fd: int, data: bytes) -> None:
    """Write all of `data` to a pipe, unbuffered: a write the child never read stays nowhere."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exactly(stream, size: int, deadline: float, timeout_s: float) -> bytes:
    """Read `size` bytes from a pipe, waiting at most until `deadline`."""
    fd = stream.fileno()
    chunks, missing = [], size
    while missing:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise GuardError("timeout", f"parser timed out after {timeout_s:g} s")
        chunk = os.read(fd, min(missing, 1 << 20))
        if not chunk:
            raise EOFError("child closed its output")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)
