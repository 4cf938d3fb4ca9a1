"""`mg.pipelines.guard`: a crash or a hang in the guarded function costs one call, not the run."""

from __future__ import annotations

import time
from pathlib import Path

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


def test_an_idle_child_leaves_and_a_call_that_meets_it_leaving_is_answered():
    """A child left without calls for `idle_s` exits by itself; the next call starts another.
    Calls made at every moment of the child's idle time, some as it leaves (the one it did not
    read is sent to a new child), are all answered."""
    with GuardedCall("math:sqrt", idle_s=0.2) as sqrt:
        assert sqrt(4.0) == 2.0
        first = sqrt.pid
        time.sleep(1.0)  # > idle_s: it has gone
        assert process_state(first) in ("Z", None)  # exited (a zombie until reaped)
        assert sqrt(9.0) == 3.0 and sqrt.pid != first
        children = set()
        for pause in [0.17 + 0.005 * i for i in range(13)]:  # around idle_s, when it leaves
            time.sleep(pause)
            assert sqrt(float(pause * pause)) == pytest.approx(pause)
            children.add(sqrt.pid)
        assert len(children) > 1


def test_a_call_written_to_a_child_already_leaving_is_sent_again():
    """The race itself, made certain: the child has left idle (it said so and exited) but its
    parent has not seen it go, so the call is written to it (into a pipe no one reads, or
    refused); its last words send the call to a new child."""
    with GuardedCall("math:sqrt", idle_s=0.2) as sqrt:
        assert sqrt(4.0) == 2.0
        leaving = sqrt._child
        leaving.wait(timeout=30)  # it left idle
        leaving.poll = lambda: None  # as if not yet reaped: the next call goes to it
        assert sqrt(16.0) == 4.0 and sqrt._child is not leaving
        for size in (10, 3 << 20):  # a small call, and one larger than the pipe
            sqrt._child.wait(timeout=30)
            sqrt._child.poll = lambda: None
            assert sqrt(float(size)) == pytest.approx(size**0.5)


def test_a_fresh_child_waits_for_its_first_call_and_only_an_idle_one_is_resent():
    with GuardedCall("math:sqrt", idle_s=0.2) as sqrt:
        child = sqrt._ensure_child()  # started, not yet called
        time.sleep(0.6)
        assert process_state(child.pid) in ("S", "R") and sqrt(4.0) == 2.0
        assert sqrt.pid == child.pid
    with (  # exits 75 after reading its call: a crash of it, not an idle child: not resent
        GuardedCall("sys:exit", idle_s=0.2) as leave,
        pytest.raises(GuardError, match="exited with code 75"),
    ):
        leave(75)
    with pytest.raises(ValueError, match="idle_s"):
        GuardedCall("math:sqrt", idle_s=0)


def process_state(pid: int) -> str | None:
    """Linux's one-letter state of a process (R, S, Z…), None when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def test_without_an_idle_time_the_child_waits():
    with GuardedCall("math:sqrt", idle_s=None) as sqrt:
        assert sqrt(4.0) == 2.0
        first = sqrt.pid
        time.sleep(0.5)
        assert process_state(first) in ("S", "R") and sqrt(9.0) == 3.0 and sqrt.pid == first


def test_calls_in_flight_are_answered_in_order_and_a_crash_costs_only_its_own():
    """`submit` sends without waiting; `collect` answers in order. A call that crashes the
    child is its own GuardError; the calls sent after it, which the dead child never read,
    are sent again to a new one and answered."""
    crash = b"MG-CRASH"
    calls = [b"MThd-not-a-midi", crash, b"", crash + b" again", b"x" * 10]
    with GuardedCall("tests.pipelines.crash_parser:read_bytes", idle_s=None) as read:
        for index, data in enumerate(calls):
            assert read.submit(data, f"f{index}.mid", None)
        with pytest.raises(RuntimeError, match="in flight"):
            read(b"", "another.mid", None)  # a plain call would take an answer not its own
        children, outcomes = set(), []
        for _ in calls:
            try:
                read.collect()
                outcomes.append("ok")
            except GuardError as exc:
                outcomes.append(exc.kind)
            except CorpusError as exc:
                outcomes.append(exc.path)
            children.add(read.pid)
        assert outcomes == ["f0.mid", "crash", "f2.mid", "crash", "f4.mid"]
        assert len(children) == 3  # a new child after each crash
        with pytest.raises(RuntimeError, match="no call in flight"):
            read.collect()


def test_a_call_too_large_to_wait_beside_another_is_refused_until_that_one_is_collected():
    with GuardedCall("builtins:len", idle_s=None) as length:
        assert length(b"x") == 1
        room = length._room
        assert length.submit(b"x" * 100)
        assert not length.submit(b"x" * room)  # could fill the pipe while a reply waits
        assert length.collect() == 100
        assert length.submit(b"x" * (4 * room))  # alone in flight: always sent
        assert length.collect() == 4 * room
