"""`mg.pipelines.guard`: a crash or a hang in the guarded function costs one call, not the run."""

from __future__ import annotations

import pytest

from mg.errors import CorpusError, Reason
from mg.pipelines.guard import GuardedCall, GuardError, GuardStartError


def test_a_call_returns_the_function_result_and_reuses_the_child():
    with GuardedCall("math:sqrt") as sqrt:
        assert sqrt.pid is None  # no child before the first call
        assert sqrt(16.0) == 4.0
        child = sqrt.pid
        assert sqrt(9.0) == 3.0 and sqrt.pid == child
    assert sqrt.pid is None  # closed


def test_the_function_exceptions_come_back_typed():
    with (
        GuardedCall("mg.representation:read_bytes") as read,
        pytest.raises(CorpusError) as caught,
    ):
        read(b"   ", "blank.mid", None)
    assert caught.value.reason == Reason.EMPTY and caught.value.path == "blank.mid"


def test_a_native_crash_is_a_guard_error_and_the_next_call_gets_a_fresh_child():
    with GuardedCall("os:abort") as abort:
        with pytest.raises(GuardError) as caught:
            abort()
        assert caught.value.kind == "crash" and "SIGABRT" in caught.value.detail
        with pytest.raises(GuardError):
            abort()  # a new child, which crashes again: the guard keeps serving


def test_a_hang_is_stopped_at_the_timeout():
    with GuardedCall("time:sleep", timeout_s=0.5) as sleep:
        with pytest.raises(GuardError) as caught:
            sleep(60)
        assert caught.value.kind == "timeout"
        assert sleep(0.01) is None


def test_what_the_function_prints_does_not_corrupt_the_replies():
    with GuardedCall("builtins:print") as echo:
        assert echo("a line on stdout", "that must not reach the pipe") is None
    with GuardedCall("os:write") as write:  # straight to file descriptor 1, as C code would
        raw = b"\x00" * 7 + b"\x09not a reply"
        assert write(1, raw) == len(raw)
        assert write(1, b"again") == 5


def test_a_function_that_cannot_be_imported_is_a_setup_error():
    with pytest.raises(GuardStartError), GuardedCall("mg_no_such_module:parse") as missing:
        missing(b"")


def test_replies_larger_and_smaller_than_the_pipe_come_back_whole():
    import fcntl

    from mg.pipelines.guard import PIPE_BYTES

    with GuardedCall("os:urandom") as random_bytes:
        for size in (1, 65_537, PIPE_BYTES - 100, PIPE_BYTES + 1, 3 * PIPE_BYTES):
            assert len(random_bytes(size)) == size
        if hasattr(fcntl, "F_GETPIPE_SZ"):  # widened where the system allows it
            size = fcntl.fcntl(random_bytes._child.stdout.fileno(), fcntl.F_GETPIPE_SZ)
            assert size in (PIPE_BYTES, 65_536)  # the default where pipe-max-size is lower
